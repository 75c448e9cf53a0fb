"""Relativistic kinematics of jets and their constituents, batched and jit-friendly.

Conventions: four-vectors are ``(..., 4) = (px, py, pz, E)`` in GeV; collider coordinates are
``(pT [GeV], eta, phi [rad], m [GeV])``; the metric is (+, -, -, -) on (E, p). Angles are wrapped
to (-pi, pi]. Constituents in jetkit datasets are massless and stored relative to the jet axis
as ``(pT, d_eta, d_phi)``; :func:`particles_to_p4` turns them back into four-vectors.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jetkit.validation import check_particles

__all__ = [
    "boost",
    "boost_z",
    "delta_phi",
    "delta_r",
    "invariant_mass",
    "jet_p4",
    "minkowski_dot",
    "p4_to_ptetaphim",
    "particles_to_p4",
    "ptetaphim_to_p4",
    "rapidity",
    "relative_coordinates",
    "wrap_phi",
]


def _four_vectors(p4, name: str = "p4", min_ndim: int = 1):
    """``p4`` as a JAX array after checking that its last axis holds (px, py, pz, E)."""
    shape = np.shape(p4)
    if len(shape) < min_ndim or shape[-1] != 4:
        need = "(..., 4)" if min_ndim == 1 else "(..., n_particles, 4)"
        raise ValueError(
            f"{name} must have shape {need} with the last axis (px, py, pz, E) in GeV; got shape {shape}. "
            "Turn (pT, eta, phi, m) into four-vectors with ptetaphim_to_p4, or constituents "
            "(pT, d_eta, d_phi) with particles_to_p4."
        )
    return jnp.asarray(p4)


def _velocity(beta):
    shape = np.shape(beta)
    if len(shape) < 1 or shape[-1] != 3:
        raise ValueError(f"beta must have shape (..., 3) = (beta_x, beta_y, beta_z); got shape {shape}")
    return jnp.asarray(beta)


def wrap_phi(phi):
    """Wrap angles [rad] to the interval (-pi, pi]."""
    wrapped = jnp.mod(phi + jnp.pi, 2 * jnp.pi) - jnp.pi
    return jnp.where(wrapped == -jnp.pi, jnp.pi, wrapped)


def delta_phi(phi1, phi2):
    """Azimuthal difference phi1 - phi2 [rad], wrapped to (-pi, pi]."""
    return wrap_phi(jnp.asarray(phi1) - jnp.asarray(phi2))


def delta_r(eta1, phi1, eta2, phi2):
    """Angular distance dR = sqrt(d_eta^2 + d_phi^2) with d_phi wrapped."""
    return jnp.hypot(jnp.asarray(eta1) - jnp.asarray(eta2), delta_phi(phi1, phi2))


def ptetaphim_to_p4(pt, eta, phi, m=0.0):
    """(pT [GeV], eta, phi [rad], m [GeV]) -> (px, py, pz, E) [GeV], stacked on the last axis."""
    pt, eta, phi, m = (jnp.asarray(x) for x in (pt, eta, phi, m))
    px = pt * jnp.cos(phi)
    py = pt * jnp.sin(phi)
    pz = pt * jnp.sinh(eta)
    e = jnp.sqrt(jnp.square(pt * jnp.cosh(eta)) + jnp.square(m))
    return jnp.stack(jnp.broadcast_arrays(px, py, pz, e), axis=-1)


def p4_to_ptetaphim(p4):
    """(px, py, pz, E) -> (pT, eta, phi, m); m is clipped at 0 (rounding can make m^2 < 0).

    A vector with pT = 0 gets eta = 0 (instead of +-inf) so batched code never sees NaN."""
    p4 = _four_vectors(p4)
    px, py, pz, e = (p4[..., i] for i in range(4))
    pt = jnp.hypot(px, py)
    safe_pt = jnp.where(pt > 0, pt, 1.0)
    eta = jnp.where(pt > 0, jnp.arcsinh(pz / safe_pt), 0.0)
    phi = jnp.arctan2(py, px)
    m = jnp.sqrt(jnp.clip(minkowski_dot(p4, p4), 0.0))
    return jnp.stack([pt, eta, phi, m], axis=-1)


def rapidity(p4):
    """Rapidity y = 0.5 ln((E + pz) / (E - pz)); 0 for the zero vector."""
    p4 = _four_vectors(p4)
    pz, e = p4[..., 2], p4[..., 3]
    ok = e > jnp.abs(pz)
    num = jnp.where(ok, e + pz, 1.0)
    den = jnp.where(ok, e - pz, 1.0)
    return jnp.where(ok, 0.5 * jnp.log(num / den), 0.0)


def minkowski_dot(a, b):
    """Minkowski product a.b = E_a E_b - p_a . p_b [GeV^2] over the last axis."""
    a, b = _four_vectors(a, "a"), _four_vectors(b, "b")
    return a[..., 3] * b[..., 3] - jnp.sum(a[..., :3] * b[..., :3], axis=-1)


def invariant_mass(p4, mask=None):
    """Invariant mass [GeV] of the sum of the four-vectors ``p4`` (..., P, 4) on axis -2 (masked
    entries skipped); ``mask`` (..., P). For a single four-vector use ``p4_to_ptetaphim``."""
    p4 = _four_vectors(p4, min_ndim=2)
    if mask is not None:
        if np.shape(mask) != p4.shape[:-1]:
            raise ValueError(f"mask must have shape {p4.shape[:-1]} (one flag per four-vector); got {np.shape(mask)}")
        p4 = jnp.where(jnp.asarray(mask)[..., None], p4, 0.0)
    total = p4.sum(axis=-2)
    return jnp.sqrt(jnp.clip(minkowski_dot(total, total), 0.0))


def particles_to_p4(particles, mask=None, jet_eta=0.0, jet_phi=0.0):
    """Massless four-vectors of constituents given as (pT, d_eta, d_phi) relative to a jet axis.

    ``particles``: (..., P, 3); ``jet_eta``/``jet_phi``: (...) jet axis (0 = the jet frame).
    Masked constituents become the zero vector. Returns (..., P, 4) = (px, py, pz, E) [GeV]."""
    particles, mask = check_particles(particles, mask, allow_empty=True)
    particles = jnp.asarray(particles)
    pt = jnp.where(mask, particles[..., 0], 0.0)
    eta = particles[..., 1] + jnp.asarray(jet_eta)[..., None]
    phi = particles[..., 2] + jnp.asarray(jet_phi)[..., None]
    return ptetaphim_to_p4(pt, jnp.where(mask, eta, 0.0), phi)


def jet_p4(particles, mask=None, jet_eta=0.0, jet_phi=0.0):
    """Four-vector (..., 4) of a jet: the E-scheme sum of its (massless) constituents."""
    return particles_to_p4(particles, mask, jet_eta, jet_phi).sum(axis=-2)


def relative_coordinates(pt, eta, phi, jet_eta, jet_phi):
    """(pT, eta, phi) of constituents (..., P) -> (..., P, 3) = (pT, d_eta, d_phi) about a jet
    axis (jet_eta, jet_phi) of shape (...)."""
    jet_eta = jnp.asarray(jet_eta)[..., None]
    jet_phi = jnp.asarray(jet_phi)[..., None]
    return jnp.stack([jnp.asarray(pt), jnp.asarray(eta) - jet_eta, delta_phi(phi, jet_phi)], axis=-1)


def boost(p4, beta):
    """Lorentz boost of four-vectors ``p4`` (..., 4) by velocity ``beta`` (..., 3), |beta| < 1.

    The boost takes a particle at rest to velocity +beta (active transformation)."""
    p4, beta = _four_vectors(p4), _velocity(beta)
    b2 = jnp.sum(beta * beta, axis=-1, keepdims=True)
    gamma = 1.0 / jnp.sqrt(1.0 - b2)
    p, e = p4[..., :3], p4[..., 3:4]
    bp = jnp.sum(beta * p, axis=-1, keepdims=True)
    coef = jnp.where(b2 > 0, (gamma - 1.0) / jnp.where(b2 > 0, b2, 1.0), 0.0)
    p_new = p + coef * bp * beta + gamma * e * beta
    e_new = gamma * (e + bp)
    return jnp.concatenate([p_new, e_new], axis=-1)


def boost_z(p4, y):
    """Longitudinal boost by rapidity ``y``: shifts every rapidity by +y, pT and phi unchanged.

    ``y`` must broadcast against ``p4[..., 0]`` (e.g. shape (N, 1) for (N, P, 4) inputs)."""
    p4 = _four_vectors(p4)
    y = jnp.asarray(y)
    ch, sh = jnp.cosh(y), jnp.sinh(y)
    pz = p4[..., 2] * ch + p4[..., 3] * sh
    e = p4[..., 3] * ch + p4[..., 2] * sh
    return jnp.stack([p4[..., 0], p4[..., 1], pz, e], axis=-1)
