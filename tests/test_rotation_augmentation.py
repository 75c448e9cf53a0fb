"""Rotation about the jet axis as a training-time augmentation of the particle-level taggers
(jetkit.models.inputs.rotate_features / RandomRotation; the JetCLR rotation, arXiv:2108.04253):
it equals recomputing the features of rotated jets, keeps every distance and the padding, acts
only in train mode, and leaves the taggers' weights, checkpoints and eval outputs alone."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import train
from jetkit.models import EdgeConvNet
from jetkit.models.inputs import COORDS, RandomRotation, particle_features, rotate_features
from jetkit.models.transformer import ParticleTransformer, transformer_inputs


def _jets(seed: int, n: int = 5, p: int = 10):
    """Random padded jets (pT [GeV], d_eta, d_phi) with 1..p constituents, zeros on padding."""
    rng = np.random.default_rng(seed)
    mask = np.arange(p)[None] < rng.integers(1, p + 1, n)[:, None]
    parts = np.stack([rng.exponential(20.0, (n, p)) + 1.0, rng.normal(0, 0.3, (n, p)),
                      rng.normal(0, 0.3, (n, p))], -1)
    return np.where(mask[..., None], parts, 0.0).astype(np.float32), mask


def _turn(parts, angle, mirror):
    """The jets' constituents mirrored (d_phi -> -d_phi where ``mirror``), then rotated by ``angle``."""
    eta, phi = parts[..., 1], np.where(mirror[:, None], -parts[..., 2], parts[..., 2])
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return np.stack([parts[..., 0], c * eta - s * phi, s * eta + c * phi], -1)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_rotated_features_are_the_features_of_rotated_jets(seed, reflect):
    parts, mask = _jets(seed % 1000)
    x = np.asarray(particle_features(parts, mask))
    out = np.asarray(rotate_features(jax.random.PRNGKey(seed), x, reflect=reflect))
    # recover each jet's angle and mirroring from its leading constituent, then rotate the jets themselves
    a, b = x[:, 0, COORDS[0]], x[:, 0, COORDS[1]]
    u, v = out[:, 0, COORDS[0]], out[:, 0, COORDS[1]]
    mirror = np.zeros(len(x), bool)
    if reflect:  # a mirror image flips the sense of the turn from the leading to the second constituent
        c0 = x[:, 0, 2] * x[:, 1, 3] - x[:, 0, 3] * x[:, 1, 2]
        c1 = out[:, 0, 2] * out[:, 1, 3] - out[:, 0, 3] * out[:, 1, 2]
        mirror = mask[:, 1] & (np.sign(c0) != np.sign(c1))
    b = np.where(mirror, -b, b)
    angle = np.arctan2(v, u) - np.arctan2(b, a)
    want = np.asarray(particle_features(_turn(parts, angle, mirror).astype(np.float32), mask))
    np.testing.assert_allclose(out, want, atol=2e-5)
    for col in (0, 1, 4):  # pT, z and the distance to the axis do not move
        np.testing.assert_array_equal(out[..., col], x[..., col])
    assert not out[~mask].any()  # padding stays zero
    d_in = np.linalg.norm(x[:, :, None, 2:4] - x[:, None, :, 2:4], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(out[:, :, None, 2:4] - out[:, None, :, 2:4], axis=-1), d_in, atol=2e-5)


def test_each_jet_gets_its_own_angle_and_reflect_false_never_mirrors():
    parts, mask = _jets(1, n=80)
    keep = mask[:, 1]  # jets with two constituents or more
    parts, mask = parts[keep][:64], mask[keep][:64]
    x = np.asarray(particle_features(parts, mask))
    out = np.asarray(rotate_features(jax.random.PRNGKey(0), x, reflect=False))
    turn = np.arctan2(out[:, 0, 3], out[:, 0, 2]) - np.arctan2(x[:, 0, 3], x[:, 0, 2])
    assert np.unique(np.round(np.mod(turn, 2 * np.pi), 4)).size == 64
    cross = lambda f: f[:, 0, 2] * f[:, 1, 3] - f[:, 0, 3] * f[:, 1, 2]  # noqa: E731
    np.testing.assert_allclose(cross(out), cross(x), atol=1e-5)  # a proper rotation keeps the sense
    flipped = np.asarray(rotate_features(jax.random.PRNGKey(0), x, reflect=True))
    assert 10 < (np.sign(cross(flipped)) != np.sign(cross(x))).sum() < 54  # about half mirrored


def test_random_rotation_acts_in_train_mode_only_and_bad_input_is_refused():
    x = np.asarray(particle_features(*_jets(2)))
    layer = RandomRotation(rngs=nnx.Rngs(0))
    first, second = np.asarray(layer(x)), np.asarray(layer(x))
    assert np.abs(first - second).max() > 1e-3  # a new angle every call
    layer.eval()
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    with pytest.raises(ValueError, match="particle_features"):
        rotate_features(jax.random.PRNGKey(0), x[..., :3])


@pytest.mark.parametrize("kind", ["part", "edgeconv"])
def test_augmented_taggers_keep_their_weights_and_eval_outputs_and_save_no_stream(kind, tmp_path):
    parts, mask = _jets(3, p=12)

    def make(augment, seed=0):
        if kind == "part":
            return ParticleTransformer(dim=16, heads=2, n_blocks=1, pair_hidden=8, augment=augment,
                                       rngs=nnx.Rngs(seed))
        return EdgeConvNet(blocks=((4, (8,), (8,)),), head=(8,), augment=augment, rngs=nnx.Rngs(seed))

    inputs = transformer_inputs(parts, mask) if kind == "part" else (particle_features(parts, mask), mask)
    plain, augmented = make(False), make(True)
    augmented.eval()  # a new nnx module starts in train mode, as with dropout
    np.testing.assert_array_equal(np.asarray(augmented(*inputs)), np.asarray(plain(*inputs)))
    augmented.train()
    assert np.abs(np.asarray(augmented(*inputs)) - np.asarray(augmented(*inputs))).max() > 1e-5
    augmented.eval()
    np.testing.assert_array_equal(np.asarray(augmented(*inputs)), np.asarray(plain(*inputs)))
    train.save_checkpoint(augmented, tmp_path / "a.npz")
    other = make(False, seed=1)
    train.load_checkpoint(other, tmp_path / "a.npz")  # parameters only: loads into the plain model
    np.testing.assert_allclose(np.asarray(other(*inputs)), np.asarray(plain(*inputs)), atol=1e-6)


def test_edgeconv_augmentation_needs_the_eta_phi_columns():
    with pytest.raises(ValueError, match="augment"):
        EdgeConvNet(coords=(0, 1), augment=True, rngs=nnx.Rngs(0))
