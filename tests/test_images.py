"""Jet images: agreement with numpy's histogram2d, symmetry properties, errors on bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jetkit.physics import images, preprocessing

P = 16  # constituents per generated jet (fixed, so every example reuses one compiled function)
NPIX, EXTENT = 15, 0.8  # odd: 0 is a pixel centre, not an edge
EDGES = np.linspace(-EXTENT, EXTENT, NPIX + 1)
ALL = dict(center=True, rotate=True, flip=True)
FAST = settings(max_examples=40, deadline=None)


@st.composite
def jets(draw, radius=0.35):
    """One jet: 1..P massless constituents within ``radius`` of the jet axis, zero-padded."""
    n = draw(st.integers(1, P))
    pt = draw(st.lists(st.floats(0.5, 400.0), min_size=n, max_size=n))
    r = draw(st.lists(st.floats(0.0, radius), min_size=n, max_size=n))
    ang = draw(st.lists(st.floats(-np.pi, np.pi), min_size=n, max_size=n))
    particles = np.zeros((P, 3), np.float32)
    particles[:n, 0] = pt
    xy = np.stack([np.asarray(r) * np.cos(ang), np.asarray(r) * np.sin(ang)], -1)
    # XLA flushes subnormal floats to zero; keep coordinates clear of that range.
    particles[:n, 1:] = np.where(np.abs(xy) < 1e-6, 0.0, xy)
    mask = np.arange(P) < n
    return particles, mask


def _np_image(particles, mask):
    p = np.asarray(particles)[np.asarray(mask)]
    return np.histogram2d(p[:, 2], p[:, 1], bins=[EDGES, EDGES], weights=p[:, 0])[0]


def _cov_shape(particles, mask):
    """Relative eigenvalue gap and normalised skewness along the major axis (numpy, float64)."""
    p = np.asarray(particles, np.float64)[mask]
    w, xy = p[:, 0], p[:, 1:]
    mean = (w[:, None] * xy).sum(0) / w.sum()
    d = xy - mean
    cov = (w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / w.sum()
    vals, vecs = np.linalg.eigh(cov)
    gap = (vals[1] - vals[0]) / max(vals.sum(), 1e-30)
    u = d @ vecs[:, 1]
    skew = abs((w * u**3).sum()) / max((w * np.abs(u) ** 3).sum(), 1e-30)
    return gap, skew


def _far_from_edges(coords, mask, tol=1e-4):
    c = np.asarray(coords)[np.asarray(mask)][:, 1:]
    return np.min(np.abs(c[..., None] - EDGES)) > tol


def _rotate_input(particles, mask, angle):
    c, s = np.cos(angle), np.sin(angle)
    out = np.array(particles, np.float64)
    x, y = out[:, 1].copy(), out[:, 2].copy()
    out[:, 1], out[:, 2] = c * x - s * y, s * x + c * y
    out[~mask] = 0
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Pixelation against a reference
# --------------------------------------------------------------------------------------------


def test_raw_image_matches_numpy_histogram2d(real_jets):
    p, m = real_jets["particles"], real_jets["mask"]
    img = np.asarray(images.jet_image(p, m, npix=NPIX, extent=EXTENT))
    ref = np.stack([_np_image(pp, mm) for pp, mm in zip(p, m)])
    assert img.shape == (len(p), NPIX, NPIX) and img.dtype == np.float32
    np.testing.assert_allclose(img, ref, rtol=1e-5, atol=1e-3)


def test_pixel_convention_and_window():
    """Rows are d_phi, columns d_eta; constituents outside the window are dropped."""
    jet = np.zeros((P, 3), np.float32)
    jet[0] = (10.0, 0.45, -0.15)  # pixel width 1.6 / 15: d_eta bin 11, d_phi bin 6
    jet[1] = (7.0, 0.9, 0.0)      # outside in d_eta
    jet[2] = (3.0, 0.0, -1.2)     # outside in d_phi
    pix = np.asarray(images.jet_image(jet, npix=NPIX, extent=EXTENT))
    assert pix[6, 11] == 10.0 and pix.sum() == 10.0
    assert np.allclose(images.pixel_edges(NPIX, EXTENT), EDGES)


def test_batched_equals_single_and_jit_and_vmap(real_jets):
    p, m = real_jets["particles"], real_jets["mask"]
    batched = np.asarray(images.jet_image(p, m, NPIX, EXTENT, **ALL))
    singles = np.stack([images.jet_image(p[i], m[i], NPIX, EXTENT, **ALL) for i in range(5)])
    np.testing.assert_allclose(batched[:5], singles, rtol=1e-6, atol=1e-5)
    fn = lambda a, b: images.jet_image(a, b, NPIX, EXTENT, **ALL)  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.jit(fn)(p, m)), batched, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.vmap(fn)(p, m)), batched, rtol=1e-6, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Properties of the preprocessing
# --------------------------------------------------------------------------------------------


@FAST
@given(jets(), st.sampled_from([{}, {"center": True}, {"center": "leading"}, {"rotate": True},
                                {"flip": True}, ALL, {**ALL, "center": "leading"}]))
def test_total_intensity_preserved_when_jet_fits(jet, options):
    particles, mask = jet
    img = np.asarray(images.jet_image(particles, mask, NPIX, EXTENT, **options))
    # Within 0.35 of the axis, every step keeps the jet inside the inscribed circle (r = 0.8).
    assert img.sum() == pytest.approx(particles[mask, 0].sum(), rel=1e-5)
    normed = np.asarray(images.jet_image(particles, mask, NPIX, EXTENT, normalise=True, **options))
    assert normed.sum() == pytest.approx(1.0, rel=1e-5)
    assert np.all(img >= 0)


@FAST
@given(jets(), st.sampled_from([1, 2, 3]))
def test_rotated_input_gives_the_same_image(jet, quarter_turns):
    particles, mask = jet
    gap, skew = _cov_shape(particles, mask)
    assume(mask.sum() >= 2 and gap > 0.05 and skew > 0.05)
    turned = particles.copy()
    for _ in range(quarter_turns):  # (x, y) -> (-y, x): exact in floating point
        turned[:, 1], turned[:, 2] = -turned[:, 2].copy(), turned[:, 1].copy()
    opts = dict(center=True, rotate=True)
    a = np.asarray(preprocessing.preprocess(particles, mask, flip=False, **opts))
    b = np.asarray(preprocessing.preprocess(turned, mask, flip=False, **opts))
    np.testing.assert_allclose(a, b, atol=2e-5)
    assume(_far_from_edges(a, mask))
    ia = np.asarray(images.jet_image(particles, mask, NPIX, EXTENT, **opts))
    ib = np.asarray(images.jet_image(turned, mask, NPIX, EXTENT, **opts))
    np.testing.assert_allclose(ia, ib, rtol=1e-5, atol=1e-4)


@FAST
@given(jets(), st.floats(-np.pi, np.pi))
def test_preprocessing_removes_any_rotation(jet, angle):
    particles, mask = jet
    gap, skew = _cov_shape(particles, mask)
    assume(mask.sum() >= 2 and gap > 0.05 and skew > 0.05)
    a = np.asarray(preprocessing.preprocess(particles, mask, flip=False))
    b = np.asarray(preprocessing.preprocess(_rotate_input(particles, mask, angle), mask, flip=False))
    np.testing.assert_allclose(a, b, atol=1e-4)


@FAST
@given(jets())
def test_each_step_does_what_it_says(jet):
    particles, mask = jet
    w = particles[mask, 0].astype(np.float64)
    c = np.asarray(preprocessing.center(particles, mask))[mask]
    np.testing.assert_allclose((w[:, None] * c[:, 1:]).sum(0) / w.sum(), 0.0, atol=1e-5)
    lead = np.asarray(preprocessing.center(particles, mask, method="leading"))[mask]
    assert np.allclose(lead[np.argmax(w), 1:], 0.0, atol=1e-7)
    r = np.asarray(preprocessing.preprocess(particles, mask, flip=False))[mask]
    d = r[:, 1:] - (w[:, None] * r[:, 1:]).sum(0) / w.sum()
    cxx, cyy, cxy = ((w * d[:, 0] ** 2).sum(), (w * d[:, 1] ** 2).sum(),
                     (w * d[:, 0] * d[:, 1]).sum())
    scale = cxx + cyy + 1e-12
    assert abs(cxy) <= 1e-4 * scale + 1e-9  # principal axes are the coordinate axes ...
    assert cyy >= cxx - 1e-4 * scale       # ... and the major one is vertical
    f = np.asarray(preprocessing.flip(particles, mask))[mask]
    assert w[f[:, 1] > 0].sum() >= w[f[:, 1] < 0].sum()
    assert w[f[:, 2] > 0].sum() >= w[f[:, 2] < 0].sum()
    f_full = np.asarray(preprocessing.flip(particles, mask))
    np.testing.assert_array_equal(np.asarray(preprocessing.flip(f_full, mask)), f_full)  # idempotent
    # Masked entries stay zero and pT is untouched.
    full = np.asarray(preprocessing.preprocess(particles, mask))
    assert np.all(full[~mask] == 0)
    assert np.array_equal(full[:, 0], np.where(mask, particles[:, 0], 0))
    z = np.asarray(preprocessing.preprocess(particles, mask, normalise=True))
    assert z[:, 0].sum() == pytest.approx(1.0, rel=1e-5)


@FAST
@given(jets(), st.data())
def test_mirror_images_agree_after_flip(jet, data):
    particles, mask = jet
    w = particles[mask, 0]
    x, y = particles[mask, 1], particles[mask, 2]
    assume(abs(w[x > 0].sum() - w[x < 0].sum()) > 1e-3 * w.sum())
    assume(abs(w[y > 0].sum() - w[y < 0].sum()) > 1e-3 * w.sum())
    sx, sy = data.draw(st.sampled_from([(-1, 1), (1, -1), (-1, -1)]))
    mirrored = particles * np.array([1, sx, sy], np.float32)
    a = np.asarray(images.jet_image(particles, mask, NPIX, EXTENT, flip=True))
    b = np.asarray(images.jet_image(mirrored, mask, NPIX, EXTENT, flip=True))
    assume(_far_from_edges(preprocessing.flip(particles, mask), mask))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-4)


@FAST
@given(jets(), st.randoms(use_true_random=False),
       st.sampled_from([{}, ALL, {**ALL, "center": "leading", "normalise": True}]))
def test_permutation_and_padding_invariance(jet, rnd, options):
    particles, mask = jet
    w = particles[mask, 0]
    if options.get("center") == "leading":
        assume(np.sum(w == w.max()) == 1)
    ref = np.asarray(images.jet_image(particles, mask, NPIX, EXTENT, **options))
    order = list(range(P))
    rnd.shuffle(order)
    perm = np.asarray(images.jet_image(particles[order], mask[order], NPIX, EXTENT, **options))
    np.testing.assert_allclose(perm, ref, rtol=1e-5, atol=1e-4)
    # Extra masked entries holding garbage (NaN, huge, negative) change nothing.
    garbage = np.array([[np.nan, 0.1, 0.1], [1e6, 0.0, 0.0], [-5.0, 0.2, -0.3], [3.0, np.inf, 0.0],
                        [50.0, 0.05, 0.05], [7.0, -0.1, 0.3], [0.0, 0.0, 0.0], [1.0, 9.0, 9.0]],
                       np.float32)
    padded = np.concatenate([particles, garbage])
    pmask = np.concatenate([mask, np.zeros(len(garbage), bool)])
    order = list(range(len(padded)))
    rnd.shuffle(order)
    pad = np.asarray(images.jet_image(padded[order], pmask[order], NPIX, EXTENT, **options))
    np.testing.assert_allclose(pad, ref, rtol=1e-5, atol=1e-4)


def test_real_jets_rotated_by_90_degrees(real_jets):
    """On real jets, the fully preprocessed image forgets a quarter-turn of the input."""
    p, m = real_jets["particles"], real_jets["mask"]
    turned = p.copy()
    turned[..., 1], turned[..., 2] = -p[..., 2], p[..., 1]
    a = np.asarray(images.jet_image(p, m, NPIX, EXTENT, **ALL, normalise=True))
    b = np.asarray(images.jet_image(turned, m, NPIX, EXTENT, **ALL, normalise=True))
    l1 = np.abs(a - b).sum(axis=(1, 2))
    # float rounding may move a constituent lying on a pixel edge: allow it in a few jets only
    assert np.mean(l1 < 1e-4) > 0.95


def test_degenerate_jets_are_finite():
    single = np.zeros((P, 3), np.float32)
    single[0] = (100.0, 0.3, -0.2)
    out = np.asarray(preprocessing.preprocess(single, normalise=True))
    assert np.all(np.isfinite(out)) and np.allclose(out[0], (1.0, 0.0, 0.0))
    # Nothing inside the window: normalising must not produce NaN.
    far = np.zeros((P, 3), np.float32)
    far[0] = (100.0, 2.0, 2.0)
    assert np.all(np.asarray(images.jet_image(far, None, NPIX, EXTENT, normalise=True)) == 0)
    # Differentiable (for later notebooks), with finite gradients even for one constituent.
    grad = jax.grad(lambda q: images.jet_image(q, None, NPIX, EXTENT, **ALL, normalise=True)[7, 7])
    assert np.all(np.isfinite(np.asarray(grad(single))))


# --------------------------------------------------------------------------------------------
# Average images
# --------------------------------------------------------------------------------------------


def test_average_image_per_class(real_jets):
    p, m, labels = real_jets["particles"], real_jets["mask"], real_jets["labels"]
    avg = images.average_image(p, m, labels, NPIX, EXTENT, batch_size=37)
    assert avg.shape == (2, NPIX, NPIX)
    each = np.asarray(images.jet_image(p, m, NPIX, EXTENT, **ALL, normalise=True))
    for c in (0, 1):
        np.testing.assert_allclose(avg[c], each[labels == c].mean(0), rtol=1e-5, atol=1e-7)
    overall = images.average_image(p, m, None, NPIX, EXTENT, batch_size=37)
    np.testing.assert_allclose(overall, each.mean(0), rtol=1e-5, atol=1e-7)
    # An empty class gives zeros, not NaN.
    three = images.average_image(p, m, labels, NPIX, EXTENT, n_classes=3, batch_size=37)
    assert np.all(three[2] == 0)
    # Top jets are wider than QCD jets: less of the average top image is in the central pixels.
    centre = slice(NPIX // 2 - 2, NPIX // 2 + 2)
    names = list(real_jets["class_names"])
    core = avg[:, centre, centre].sum(axis=(1, 2))
    assert core[names.index("top")] < core[names.index("qcd")]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("npix", [0, -3, 2.5, "32"])
def test_bad_npix(npix):
    with pytest.raises(ValueError, match="npix"):
        images.jet_image(np.ones((4, 3), np.float32), npix=npix)


@pytest.mark.parametrize("extent", [0.0, -0.8, np.nan, np.inf, "wide"])
def test_bad_extent(extent):
    with pytest.raises(ValueError, match="extent"):
        images.jet_image(np.ones((4, 3), np.float32), extent=extent)


def test_bad_particles_and_options():
    good = np.ones((2, 4, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        images.jet_image(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="mask"):
        images.jet_image(good, np.ones((2, 5), bool))
    bad = good.copy()
    bad[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        images.jet_image(bad)
    bad = good.copy()
    bad[1, 0, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        preprocessing.preprocess(bad, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="no unmasked"):
        images.jet_image(good, np.array([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match="center"):
        images.jet_image(good, center="middle")
    with pytest.raises(ValueError, match="labels"):
        images.average_image(good, labels=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="batch_size"):
        images.average_image(good, batch_size=0)
    with pytest.raises(ValueError, match="image"):
        images.normalise(np.ones(3))
