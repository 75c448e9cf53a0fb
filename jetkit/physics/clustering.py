"""Sequential jet clustering in JAX on padded arrays: fixed shapes, ``jit`` and ``vmap`` friendly.

The generalised-kT family clusters the closest pair of pseudojets, one merge per step, with the
pairwise distance ``d_ij = min(pT_i^(2p), pT_j^(2p)) * dR_ij^2`` (p = 1: kT, p = 0:
Cambridge/Aachen; FastJet, arXiv:1111.6097). ``dR_ij^2 = (y_i - y_j)^2 + dphi_ij^2`` uses
*rapidity* y, as FastJet does: constituents are massless (y = eta) but merged pseudojets are
massive, and their rapidity is computed from the summed four-vector.

Here the jet radius is FastJet's "max allowable" R, so a pseudojet never merges with the beam: the
whole jet ends as one pseudojet (this is what fjcontrib's ``KT_Axes``, ``WTA_KT_Axes`` and the
C/A reclustering inside ``SoftDrop`` do). A batch runs one ``lax.fori_loop`` with one merge per
jet and step on (N, P) slot arrays, with FastJet-style nearest-neighbour bookkeeping: each
pseudojet keeps its geometric nearest neighbour, so a step costs O(P), not O(P^2) (see
:func:`_cluster`). The merged pseudojet takes the slot of the lower-index parent.

Recombination schemes:

- ``"E"``: E-scheme, four-vector sum; the new pseudojet's pT, y and phi come from the sum.
- ``"wta"``: winner-take-all pT scheme (fjcontrib ``WinnerTakeAllRecombiner``, alpha = 1):
  pT = pT_a + pT_b (scalar), direction (y, phi) of the harder parent (``pT_a >= pT_b`` wins),
  massless (arXiv:1401.2158, axes for N-subjettiness in arXiv:1508.01516).

Inputs everywhere: ``particles`` (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]) and ``mask`` (N, P)
bool. Exact ties between pair distances are broken by the lowest slot index, which need not be
FastJet's choice; with continuous inputs such ties do not happen.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jetkit.parallel import over_jets
from jetkit.physics.kinematics import ptetaphim_to_p4
from jetkit.validation import check_particles

__all__ = [
    "ClusterHistory",
    "ExclusiveAxes",
    "cluster_history",
    "delta_r2",
    "exclusive_axes",
    "fastjet_rapidity",
    "softdrop_node",
]

_SCHEMES = ("E", "wta")


class ExclusiveAxes(NamedTuple):
    """Pseudojets left when N remain, for each requested N: arrays (N_jets, K, P) with one slot
    per input position; only slots with ``valid`` hold a pseudojet (at most N of them)."""

    pt: jax.Array  # GeV
    y: jax.Array  # rapidity
    phi: jax.Array  # rad, in (-pi, pi]
    valid: jax.Array  # bool


class ClusterHistory(NamedTuple):
    """Full clustering tree of each jet. Nodes 0..P-1 are the inputs, node P + t is the pseudojet
    made at step t from ``parents[:, t]`` (-1 where step t did not happen). ``root`` is the index of
    the final pseudojet (an input index for one-constituent jets)."""

    parents: jax.Array  # (N, P - 1, 2) int32
    pt: jax.Array  # (N, 2P - 1) GeV
    y: jax.Array  # (N, 2P - 1)
    phi: jax.Array  # (N, 2P - 1) rad
    members: jax.Array  # (N, 2P - 1, P) bool: input constituents of each node
    root: jax.Array  # (N,) int32


def delta_r2(y1, phi1, y2, phi2):
    """Squared distance dy^2 + dphi^2 with |dphi| folded into [0, pi] (FastJet's convention)."""
    dphi = jnp.abs(phi1 - phi2)
    dphi = jnp.where(dphi > jnp.pi, 2 * jnp.pi - dphi, dphi)
    return jnp.square(y1 - y2) + jnp.square(dphi)


def fastjet_rapidity(p4):
    """Rapidity of (..., 4) = (px, py, pz, E) [GeV] computed as FastJet does (stable for all pz):
    y = -sign(pz) * 0.5 * ln((pT^2 + m^2) / (E + |pz|)^2) with m^2 clipped at 0; 0 for E = 0."""
    px, py, pz, e = (p4[..., i] for i in range(4))
    kt2 = px * px + py * py
    m2 = jnp.maximum(e * e - kt2 - pz * pz, 0.0)
    e_plus = e + jnp.abs(pz)
    ok = (e_plus > 0) & (kt2 + m2 > 0)
    y = 0.5 * jnp.log(jnp.where(ok, kt2 + m2, 1.0) / jnp.where(ok, e_plus * e_plus, 1.0))
    return jnp.where(ok, jnp.where(pz > 0, -y, y), 0.0)


def _weight(pt, p: float):
    """pT^(2p) of the kT-family distance (exactly 1 for p = 0)."""
    return jnp.ones_like(pt) if p == 0 else jnp.power(pt, 2 * p)


def _pick(x, onehot):
    """x[n, i(n)] for a one-hot (N, P) selector: x (N, P) -> (N,), x (N, P, K) -> (N, K).
    Exact (a sum of zeros and one value) and gather-free, which keeps XLA compiles short."""
    sel = onehot if x.ndim == 2 else onehot[..., None]
    return jnp.sum(jnp.where(sel, x, jnp.zeros((), x.dtype)), axis=1, dtype=x.dtype)


def _merge(ab, wta: bool):
    """Recombine two pseudojets ``ab`` (N, 2, K) with columns (pT, y, phi[, px, py, pz, E]);
    returns the new pseudojet (N, K)."""
    if wta:
        a_wins = (ab[:, 0, 0] >= ab[:, 1, 0])[:, None]
        return jnp.where(a_wins, ab[:, 0], ab[:, 1]).at[:, 0].set(ab[:, 0, 0] + ab[:, 1, 0])
    p4 = ab[:, 0, 3:] + ab[:, 1, 3:]
    pt = jnp.hypot(p4[:, 0], p4[:, 1])
    kin = jnp.stack([pt, fastjet_rapidity(p4), jnp.arctan2(p4[:, 1], p4[:, 0])], axis=1)
    return jnp.concatenate([kin, p4], axis=1)


def _rows(x, i):
    """x[n, i[n]] for x (N, P, ...) and integer i (N,): one gathered row per jet."""
    return jnp.take_along_axis(x, i.reshape((-1, 1) + (1,) * (x.ndim - 2)), axis=1)[:, 0]


def _set_rows(x, i, value, go):
    """x with row i[n] of jet n replaced by value[n] where go[n] (an O(P) scatter per jet)."""
    value = jnp.where(go.reshape((-1,) + (1,) * (value.ndim - 1)), value, _rows(x, i))
    return x.at[jnp.arange(x.shape[0]), i].set(value)


def _nearest(y, phi, rows_y, rows_phi, rows, live):
    """Geometric nearest live neighbour (in dR^2) of the pseudojets at ``rows`` (N, K):
    returns (index, dR^2) arrays (N, K); dR^2 is inf when no other pseudojet is alive."""
    d = delta_r2(rows_y[..., None], rows_phi[..., None], y[:, None, :], phi[:, None, :])
    ok = live[:, None, :] & (jnp.arange(y.shape[1])[None, None, :] != rows[..., None])
    d = jnp.where(ok, d, jnp.inf)
    return jnp.argmin(d, axis=-1).astype(jnp.int32), jnp.min(d, axis=-1)


_REFRESH = 4  # rows whose nearest neighbour is recomputed per pass (a merge usually orphans 0-3)


def _cluster(particles, mask, *, p: float, wta: bool, snap_ns: tuple[int, ...], history: bool):
    """Cluster a batch of jets (N, P, 3), one merge per ``fori_loop`` step, until one pseudojet
    is left (history) or min(snap_ns) are left. Returns (snapshots, history) tuples of arrays.

    Nearest-neighbour bookkeeping as FastJet's NNH: every pseudojet keeps its geometric nearest
    neighbour in dR^2. The smallest d_ij = min(w_i, w_j) dR_ij^2 is always between a pseudojet
    and its geometric neighbour (if k is nearer to i than j, d_ik <= w_i dR_ik^2 < d_ij), so a
    step scans P candidates instead of P^2 pairs. After a merge only the new pseudojet and the
    pseudojets whose neighbour was one of the parents need a new search, a few rows at a time
    (``_REFRESH``) until none is left: O(P) work per step instead of O(P^2).

    Each slot holds (pT, y, phi) and, for the E-scheme, its four-vector (px, py, pz, E)."""
    n_jets, n_p = mask.shape
    kin = jnp.where(mask[..., None], particles, 0.0)  # (pT, y = eta, phi) of massless inputs
    state = kin if wta else jnp.concatenate([kin, ptetaphim_to_p4(kin[..., 0], kin[..., 1], kin[..., 2])], -1)
    idx = jnp.arange(n_p)
    all_rows = jnp.broadcast_to(idx, (n_jets, n_p))
    nn, nn_d = _nearest(kin[..., 1], kin[..., 2], kin[..., 1], kin[..., 2], all_rows, mask)
    n_valid = jnp.sum(mask, axis=1)
    stop_at = 1 if history else min(snap_ns)
    n_steps = max(n_p - stop_at, 0)
    refresh = min(_REFRESH, n_p)

    snaps = tuple((kin, mask) for _ in snap_ns)
    hist = None
    if history:
        eye = (idx[:, None] == idx[None, :])[None] & mask[:, :, None]
        hist = (
            jnp.full((n_jets, n_p - 1, 2), -1, jnp.int32),  # parents of each step's node
            jnp.concatenate([kin, jnp.zeros((n_jets, n_p - 1, 3), kin.dtype)], axis=1),  # nodes
            jnp.concatenate([eye, jnp.zeros((n_jets, n_p - 1, n_p), bool)], axis=1),  # members
            jnp.broadcast_to(idx, (n_jets, n_p)).astype(jnp.int32),  # node held by each slot
            eye,  # constituents of each slot
        )

    def refresh_pass(carry):
        nn, nn_d, todo, y, phi, live = carry
        rank = jnp.cumsum(todo, axis=1) - 1  # the first `refresh` pending rows, as one-hot (N, R, P)
        hit = todo[:, None, :] & (rank[:, None, :] == jnp.arange(refresh)[None, :, None])
        ry = jnp.sum(jnp.where(hit, y[:, None, :], 0.0), axis=2)
        rphi = jnp.sum(jnp.where(hit, phi[:, None, :], 0.0), axis=2)
        knn, kd = _nearest(y, phi, ry, rphi, jnp.argmax(hit, axis=2), live)
        got = jnp.any(hit, axis=1)
        nn = jnp.where(got, jnp.sum(jnp.where(hit, knn[..., None], 0), axis=1), nn).astype(jnp.int32)
        nn_d = jnp.where(got, jnp.sum(jnp.where(hit, kd[..., None], 0.0), axis=1), nn_d)
        return nn, nn_d, todo & ~got, y, phi, live

    def body(t, carry):
        state, live, nn, nn_d, n_live, snaps, hist = carry
        w = _weight(state[..., 0], p)
        dij = jnp.where(live, jnp.minimum(w, jnp.take_along_axis(w, nn, 1)) * nn_d, jnp.inf)
        a = jnp.argmin(dij, axis=1).astype(jnp.int32)
        b = _rows(nn, a)
        go = (n_live > stop_at) & jnp.isfinite(jnp.min(dij, axis=1))
        lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
        new = _merge(jnp.stack([_rows(state, lo), _rows(state, hi)], axis=1), wta)
        state = _set_rows(state, lo, new, go)
        is_lo, is_hi = (idx == lo[:, None]) & go[:, None], (idx == hi[:, None]) & go[:, None]
        live = live & ~is_hi
        y, phi = state[..., 1], state[..., 2]
        # the new pseudojet's neighbour, and every pseudojet now nearer to it than to its own
        d_new = jnp.where(live & ~is_lo, delta_r2(new[:, 1:2], new[:, 2:3], y, phi), jnp.inf)
        others = live & ~is_lo & go[:, None]
        orphan = others & ((nn == lo[:, None]) | (nn == hi[:, None]))
        closer = others & (d_new < nn_d)
        nn = jnp.where(closer, lo[:, None], nn)
        nn_d = jnp.where(closer, d_new, nn_d)
        nn = jnp.where(is_lo, jnp.argmin(d_new, axis=1)[:, None], nn).astype(jnp.int32)
        nn_d = jnp.where(is_lo, jnp.min(d_new, axis=1)[:, None], nn_d)
        nn_d = jnp.where(is_hi, jnp.inf, nn_d)
        todo = orphan & ~closer  # lost their neighbour and the new pseudojet is not nearer
        nn, nn_d = jax.lax.while_loop(lambda c: jnp.any(c[2]), refresh_pass, (nn, nn_d, todo, y, phi, live))[:2]
        n_live = n_live - go.astype(n_live.dtype)
        snaps = tuple(
            tuple(
                jnp.where((go & (n_live == n)).reshape((-1,) + (1,) * (new_.ndim - 1)), new_, old)
                for new_, old in zip((state[..., :3], live), s)
            )
            for n, s in zip(snap_ns, snaps)
        )
        if hist is not None:
            parents, nodes, members, node_of, slot_m = hist
            node = n_p + t
            pair = jnp.stack([_rows(node_of, lo), _rows(node_of, hi)], axis=1)
            parents = parents.at[:, t].set(jnp.where(go[:, None], pair, -1))
            nodes = nodes.at[:, node].set(jnp.where(go[:, None], new[:, :3], 0.0))
            new_m = (_rows(slot_m, lo) | _rows(slot_m, hi)) & go[:, None]
            members = members.at[:, node].set(new_m)
            slot_m = _set_rows(slot_m, lo, new_m, go)
            node_of = jnp.where(is_lo, node, node_of).astype(jnp.int32)
            hist = (parents, nodes, members, node_of, slot_m)
        return state, live, nn, nn_d, n_live, snaps, hist

    carry = (state, mask, nn, nn_d, n_valid, snaps, hist)
    carry = jax.lax.fori_loop(0, n_steps, body, carry)
    snaps, hist = carry[5], carry[6]
    if hist is not None:
        root = jnp.where(n_valid >= 2, n_p + n_valid - 2, jnp.argmax(mask, axis=1)).astype(jnp.int32)
        parents, nodes, members = hist[:3]
        hist = (parents, nodes[..., 0], nodes[..., 1], nodes[..., 2], members, root)
    return snaps, hist


def _check_scheme(scheme: str) -> bool:
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown recombination scheme {scheme!r}; use one of {_SCHEMES}")
    return scheme == "wta"


@partial(jax.jit, static_argnames=("n_axes", "p", "wta"))
def _exclusive_axes(particles, mask, n_axes: tuple[int, ...], p: float, wta: bool):
    snaps, _ = _cluster(particles, mask, p=p, wta=wta, snap_ns=n_axes, history=False)
    kin = jnp.stack([s[0] for s in snaps], axis=1)  # (N, K, P, 3)
    valid = jnp.stack([s[1] for s in snaps], axis=1)
    return ExclusiveAxes(kin[..., 0], kin[..., 1], kin[..., 2], valid)


def exclusive_axes(particles, mask=None, n_axes: int | tuple[int, ...] = (1, 2, 3), *,
                   p: float = 1.0, scheme: str = "E") -> ExclusiveAxes:
    """Exclusive generalised-kT pseudojets of each jet, R = "max allowable" (no beam merges).

    Args:
        particles: (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]); mask: (N, P) bool.
        n_axes: number(s) of pseudojets to stop at (>= 1); a jet with fewer constituents keeps
            them all.
        p: kT-family exponent (1 = kT, 0 = Cambridge/Aachen).
        scheme: ``"E"`` (four-vector sum, as fjcontrib ``KT_Axes``) or ``"wta"``
            (winner-take-all pT scheme, as ``WTA_KT_Axes``).

    Returns:
        :class:`ExclusiveAxes` with arrays (N, K, P), K = len(n_axes) (no K axis for an int).
    """
    particles, mask = check_particles(particles, mask)
    wta = _check_scheme(scheme)
    single = isinstance(n_axes, int)
    ns = (n_axes,) if single else tuple(int(n) for n in n_axes)
    if not ns or min(ns) < 1:
        raise ValueError(f"n_axes must be >= 1, got {n_axes!r}")
    out = over_jets(_exclusive_axes, jnp.asarray(particles), jnp.asarray(mask, bool), n_axes=ns, p=float(p), wta=wta)
    return ExclusiveAxes(*(a[:, 0] for a in out)) if single else out


@partial(jax.jit, static_argnames=("p", "wta"))
def _cluster_history(particles, mask, p: float, wta: bool):
    _, hist = _cluster(particles, mask, p=p, wta=wta, snap_ns=(1,), history=True)
    return ClusterHistory(*hist)


def cluster_history(particles, mask=None, *, p: float = 0.0, scheme: str = "E") -> ClusterHistory:
    """Full clustering history (default: Cambridge/Aachen, E-scheme, as fjcontrib's ``Recluster``
    inside ``SoftDrop``). particles: (N, P, 3) = (pT [GeV], d_eta, d_phi); mask: (N, P) bool."""
    particles, mask = check_particles(particles, mask)
    wta = _check_scheme(scheme)
    return over_jets(_cluster_history, jnp.asarray(particles), jnp.asarray(mask, bool), p=float(p), wta=wta)


def softdrop_node(h: ClusterHistory, zcut, beta, r0):
    """(N,) index of the node that soft drop keeps (arXiv:1402.2657) in each tree ``h``.

    From the root, follow the harder (larger pT) branch until the two branches pass
    ``min(pT1, pT2) / (pT1 + pT2) >= zcut * (dR12 / r0)^beta`` (fjcontrib ``SoftDrop`` with
    scalar_z symmetry and larger_pt recursion) or a single constituent is left. zcut, beta, r0
    may be traced; ``h.members[n, node]`` is then the groomed constituent mask."""
    n_jets, n_nodes = h.pt.shape
    n_p = (n_nodes + 1) // 2
    nodes, steps = jnp.arange(n_nodes), jnp.arange(n_p - 1)
    kin = jnp.stack([h.pt, h.y, h.phi], axis=-1)  # (N, 2P - 1, 3)

    def body(_, carry):
        node, done = carry
        at_step = steps[None, :] == (node - n_p)[:, None]  # all False on a leaf
        c = _pick(h.parents, at_step)  # (N, 2) children
        is_child = (nodes[None, None, :] == c[..., None])[..., None]  # (N, 2, 2P - 1, 1)
        two = jnp.sum(jnp.where(is_child, kin[:, None], 0.0), axis=2)  # (N, 2, 3)
        (pt1, y1, phi1), (pt2, y2, phi2) = jnp.moveaxis(two[:, 0], 1, 0), jnp.moveaxis(two[:, 1], 1, 0)
        total = pt1 + pt2
        z = jnp.minimum(pt1, pt2) / jnp.where(total > 0, total, 1.0)
        cut = zcut * jnp.power(delta_r2(y1, phi1, y2, phi2) / r0**2, beta / 2)
        stop = done | (node < n_p) | (z >= cut)
        return jnp.where(stop, node, jnp.where(pt1 >= pt2, c[:, 0], c[:, 1])), stop

    if n_p < 2:
        return h.root
    node, _ = jax.lax.fori_loop(0, n_p - 1, body, (h.root, jnp.zeros(n_jets, bool)))
    return node
