"""Anomaly detection helpers for notebook 03: inputs for autoencoders, anomaly scores,
evaluation tables, and the notebook's exercise checks.

>>> x = anomaly.prepare_images(dataset)              # (N, 32, 32) sqrt of normalised jet images
>>> s = anomaly.scores(vae, x)                       # {"MSE": ..., "KL": ..., "R_z": ...}
>>> rows = anomaly.evaluate(labels, s)               # AUC and eps_S at eps_B = 1e-1, 1e-2, 1e-3

Scores are "larger = more anomalous". Exercise checks (registered on import):
``03_rz`` (R_z by hand from mu and log sigma^2) and ``03_threshold`` (a cut keeping 1 % of the
background).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flax import nnx

from jetkit import exercises, images, metrics
from jetkit.models.autoencoders import AE, VAE, kl_divergence, reconstruction_error, rz_score

__all__ = ["EPS_B", "evaluate", "format_table", "one_vs_background", "prepare_images", "profile", "scores",
           "to_image"]

EPS_B = (1e-1, 1e-2, 1e-3)


def prepare_images(data, mask=None, *, npix: int = 32, extent: float = 0.8, transform: str = "sqrt",
                   batch: int = 2048) -> np.ndarray:
    """Preprocessed jet images (centered, rotated, flipped, normalised to unit sum), then an
    intensity transform that lifts the soft pixels: ``"sqrt"`` (default), ``"log"``
    (log(1 + 1000 x) / log(1001)) or ``"none"``. Returns float32 (N, npix, npix).

    ``data`` is a :class:`~jetkit.datasets.JetDataset` or padded particles (N, P, 3) with
    ``mask``. Computed in batches so memory stays small."""
    if hasattr(data, "particles"):
        particles, mask = data.particles, data.mask
    else:
        particles = data
    if transform not in ("sqrt", "log", "none"):
        raise ValueError(f"transform must be 'sqrt', 'log' or 'none', got {transform!r}")
    particles = np.asarray(particles, np.float32)
    mask = particles[..., 0] > 0 if mask is None else np.asarray(mask, bool)
    if particles.ndim == 3 and particles.shape[1] < 64:  # one compiled shape for 30 and 64 slots
        pad = 64 - particles.shape[1]
        particles = np.pad(particles, ((0, 0), (0, pad), (0, 0)))
        mask = np.pad(mask, ((0, 0), (0, pad)))
    out = []
    for s in range(0, len(particles), batch):  # fixed batch shape: compiled once
        p, m = particles[s:s + batch], mask[s:s + batch]
        n = len(p)
        if n < batch and len(particles) > batch:
            p = np.concatenate([p, np.repeat(p[:1], batch - n, 0)])
            m = np.concatenate([m, np.repeat(m[:1], batch - n, 0)])
        out.append(np.asarray(images.jet_image(p, m, npix=npix, extent=extent, center=True,
                                                  rotate=True, flip=True, normalise=True))[:n])
    x = np.concatenate(out) if out else np.zeros((0, npix, npix), np.float32)
    x = np.clip(x, 0.0, None)
    if transform == "sqrt":
        x = np.sqrt(x)
    elif transform == "log":
        x = np.log1p(1000.0 * x) / np.log(1001.0)
    return x.astype(np.float32)


def to_image(x, transform: str = "sqrt") -> np.ndarray:
    """Undo :func:`prepare_images`' intensity transform (negative values clipped to 0), e.g.
    to show a decoded image as pT fractions."""
    x = np.clip(np.asarray(x, np.float32), 0.0, None)
    if transform == "sqrt":
        return x**2
    if transform == "log":
        return np.expm1(x * np.log(1001.0)) / 1000.0
    return x


def scores(model, x, mask=None, *, batch_size: int = 2048) -> dict[str, np.ndarray]:
    """Anomaly scores per jet (larger = more anomalous), in eval mode.

    :class:`AE`: ``{"MSE"}``; :class:`VAE`: ``{"MSE", "KL", "R_z"}`` where MSE is the
    reconstruction error of the decoded mean, KL the divergence of q(z|x) from N(0, 1) and
    R_z = sum mu^2 / sigma^2 (arXiv:2108.03986)."""
    if not isinstance(model, (AE, VAE)):
        raise ValueError(f"scores() needs an AE or a VAE, got {type(model).__name__}")
    model.eval()
    x = np.asarray(x, np.float32)
    parts = []
    for s in range(0, len(x), batch_size):  # fixed batch shape: compiled once
        xb = x[s:s + batch_size]
        mb = None if mask is None else np.asarray(mask[s:s + batch_size])
        n = len(xb)
        if n < batch_size and len(x) > batch_size:
            xb = np.concatenate([xb, np.repeat(xb[:1], batch_size - n, 0)])
            mb = None if mb is None else np.concatenate([mb, np.repeat(mb[:1], batch_size - n, 0)])
        parts.append({k: np.asarray(v)[:n] for k, v in _score_batch(model, xb, mb).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@nnx.jit
def _score_batch(m, xb, mb):
    if isinstance(m, VAE):
        mu, logvar = m.encode(xb, mb)
        rec = m.decode(mu, mb)
        return {"MSE": reconstruction_error(xb, rec), "KL": kl_divergence(mu, logvar),
                "R_z": rz_score(mu, logvar)}
    return {"MSE": reconstruction_error(xb, m(xb, mb))}


def evaluate(labels, score_dict: dict, *, name: str = "", eps_b=EPS_B) -> list[dict]:
    """One row per score: AUC and the signal efficiency at each background efficiency in
    ``eps_b`` (labels: 1 = signal/anomaly, 0 = background)."""
    labels = np.asarray(labels)
    rows = []
    for key, s in score_dict.items():
        row = {"model": name, "score": key, "AUC": metrics.auc(labels, s)}
        for e in eps_b:
            row[f"eS@{e:g}"] = metrics.signal_efficiency_at(labels, s, e)
        rows.append(row)
    return rows


def format_table(rows: list[dict], digits: int = 2) -> str:
    """Plain-text table of :func:`evaluate` rows, values rounded to ``digits``."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[f"{r[k]:.{digits}f}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(keys), line(["-" * w for w in widths]), *map(line, cells)])


# --------------------------------------------------------------------------------------------
# Exercise checks
# --------------------------------------------------------------------------------------------


@exercises.register(
    "03_rz",
    hint="R_z adds, over the latent dimensions of each jet, mu squared divided by the variance "
    "sigma^2 = exp(logvar); the result has one number per jet.",
)
def _check_rz(answer, mu, logvar) -> bool:
    expected = np.asarray(rz_score(mu, logvar))
    answer = np.asarray(answer, dtype=float)
    if answer.shape != expected.shape:
        return exercises.fail(f"expected one value per jet, shape {expected.shape}, got {answer.shape}")
    if not np.allclose(answer, expected, rtol=1e-4, atol=1e-5):
        return exercises.fail("the values differ: divide by the variance exp(logvar), not by the "
                              "standard deviation or by logvar, and sum over the last axis")
    return exercises.ok("R_z computed from the encoder alone: no decoder needed")


@exercises.register(
    "03_threshold",
    hint="take the quantile of the *background* scores that leaves the requested fraction above "
    "it (np.quantile with 1 - fraction).",
)
def _check_threshold(answer, background_scores, fraction: float = 0.01) -> bool:
    s = np.asarray(background_scores, dtype=float)
    try:
        t = float(answer)
    except (TypeError, ValueError):
        return exercises.fail("the answer should be one number: the score threshold")
    kept = float(np.mean(s > t))
    if abs(kept - fraction) > max(0.2 * fraction, 2.0 / len(s)):
        return exercises.fail(f"{kept:.4f} of the background passes your cut, not {fraction:g}")
    return exercises.ok(f"{kept:.4f} of the background passes the cut")


def one_vs_background(dataset, signal: str, background: Sequence[str]):
    """Indices of the jets of ``dataset`` in ``signal`` or ``background`` classes, and labels
    1 (signal) / 0 (background) for them; e.g. W jets against q + g jets of jet5."""
    names = list(dataset.class_names)
    for c in (signal, *background):
        if c not in names:
            raise ValueError(f"unknown class {c!r}; known classes: {names}")
    labels = np.asarray(dataset.labels)
    sig = labels == names.index(signal)
    bkg = np.isin(labels, [names.index(c) for c in background])
    idx = np.flatnonzero(sig | bkg)
    return idx, sig[idx].astype(int)


def profile(x, y, bins):
    """Mean of ``y`` in bins of ``x`` (NaN for empty bins): returns (bin centres, means)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    edges = np.asarray(bins, float)
    which = np.digitize(x, edges) - 1
    means = np.array([y[which == i].mean() if np.any(which == i) else np.nan for i in range(len(edges) - 1)])
    return 0.5 * (edges[1:] + edges[:-1]), means
