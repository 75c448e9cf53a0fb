"""AE / VAE: shapes, masks, scores against closed forms, training lowers the loss, checks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jetkit import data, exercises, metrics, stats, train
from jetkit.models import autoencoders, inputs
from jetkit.models.autoencoders import (AE, VAE, ae_loss, kl_divergence, reconstruction_error, rz_score,
                                        vae_loss)


@pytest.mark.parametrize("cls", [AE, VAE])
@pytest.mark.parametrize("shape", [(8, 8), (10, 3), (16,)])
def test_shapes(cls, shape):
    m = cls(shape, latent_dim=3, hidden=(12,), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (5, *shape))
    out = m(x)
    rec = out[0] if cls is VAE else out
    assert rec.shape == x.shape
    if cls is VAE:
        assert out[1].shape == out[2].shape == (5, 3)
        assert m.encode(x)[0].shape == (5, 3)
    else:
        assert m.encode(x).shape == (5, 3)
    assert m.decode(jnp.zeros((2, 3))).shape == (2, *shape)


@pytest.mark.parametrize("cls", [AE, VAE])
def test_mask_hides_padding(cls):
    """Constituent mask (N, P) for inputs (N, P, 3): padded entries change nothing and are zero
    in the reconstruction."""
    m = cls((6, 3), latent_dim=2, hidden=(8,), rngs=nnx.Rngs(0))
    m.eval()
    x = np.asarray(jax.random.normal(jax.random.key(2), (4, 6, 3)))
    mask = np.ones((4, 6), bool)
    mask[:, 4:] = False
    y = x.copy()
    y[:, 4:] = 123.0  # garbage in the padding
    first = lambda o: o[0] if isinstance(o, tuple) else o  # noqa: E731
    r1, r2 = first(m(x, mask)), first(m(y, mask))
    np.testing.assert_allclose(r1, r2, rtol=1e-6)
    assert np.all(np.asarray(r1)[:, 4:] == 0)
    full = np.broadcast_to(mask[..., None], x.shape)  # a full-shape mask works too
    np.testing.assert_allclose(first(m(y, full)), r1, rtol=1e-6)
    with pytest.raises(ValueError, match="mask shape"):
        m(x, mask[:, :3])


def test_bad_input_shape():
    m = AE((8, 8), latent_dim=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="expected inputs"):
        m(jnp.zeros((3, 7, 8)))
    with pytest.raises(ValueError):
        AE((8, 8), latent_dim=0, rngs=nnx.Rngs(0))


def test_kl_matches_closed_form_and_monte_carlo():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3, 4)), rng.normal(scale=0.5, size=(3, 4))
    var = np.exp(logvar)
    closed = 0.5 * np.sum(mu**2 + var - 1 - np.log(var), axis=1)
    np.testing.assert_allclose(kl_divergence(mu, logvar), closed, rtol=1e-5)
    # Monte Carlo estimate of E_q[log q - log p] for the first example
    z = mu[0] + np.sqrt(var[0]) * rng.normal(size=(200_000, 4))
    logq = -0.5 * np.sum((z - mu[0]) ** 2 / var[0] + np.log(2 * np.pi * var[0]), axis=1)
    logp = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1)
    assert abs(np.mean(logq - logp) - closed[0]) < 0.03
    assert float(kl_divergence(np.zeros(4), np.zeros(4))) == 0.0


def test_rz_by_hand():
    mu = np.array([[1.0, -2.0], [0.0, 3.0]])
    logvar = np.log(np.array([[4.0, 1.0], [2.0, 9.0]]))
    # 1/4 + 4/1 = 4.25 ; 0 + 9/9 = 1
    np.testing.assert_allclose(rz_score(mu, logvar), [4.25, 1.0], rtol=1e-6)


def test_reconstruction_error():
    x = np.ones((2, 3, 3))
    r = np.zeros((2, 3, 3))
    r[1] = 1.0
    np.testing.assert_allclose(reconstruction_error(x, r), [1.0, 0.0])


def test_vae_eval_is_deterministic_and_train_samples():
    m = VAE((5,), latent_dim=2, hidden=(8,), rngs=nnx.Rngs(0))
    x = jnp.ones((3, 5))
    m.eval()
    np.testing.assert_array_equal(m(x)[0], m(x)[0])
    np.testing.assert_allclose(m(x)[0], m.decode(m.encode(x)[0]), rtol=1e-6)
    m.train()
    assert not np.allclose(m(x)[0], m(x)[0])


def test_training_lowers_loss_and_scores():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 16))
    x = (rng.normal(size=(512, 2)) @ basis).astype(np.float32)  # data on a 2-D plane
    odd = rng.normal(size=(64, 16)).astype(np.float32) * 2  # off the plane
    ae = AE((16,), latent_dim=2, hidden=(32,), rngs=nnx.Rngs(0))
    h = train.fit(ae, (x,), None, loss_fn=ae_loss, epochs=30, batch_size=64, learning_rate=3e-3,
                  progress=False)
    assert h.train_loss[-1] < 0.3 * h.train_loss[0]
    s_in, s_out = autoencoders.anomaly_scores(ae, x)["MSE"], autoencoders.anomaly_scores(ae, odd)["MSE"]
    assert np.median(s_out) > 5 * np.median(s_in)
    vae = VAE((16,), latent_dim=2, hidden=(32,), rngs=nnx.Rngs(1))
    hv = train.fit(vae, (x,), None, loss_fn=functools.partial(vae_loss, beta=0.5), epochs=10,
                   batch_size=64, progress=False)
    assert np.isfinite(hv.train_loss).all() and hv.train_loss[-1] < hv.train_loss[0]
    sv = autoencoders.anomaly_scores(vae, x[:10])
    assert set(sv) == {"MSE", "KL", "R_z"} and all(v.shape == (10,) for v in sv.values())


def test_evaluate_and_table():
    labels = np.r_[np.zeros(1000), np.ones(1000)].astype(int)
    s = np.r_[np.linspace(0, 1, 1000), np.linspace(0.5, 1.5, 1000)]
    rows = metrics.anomaly.evaluate(labels, {"x": s}, name="toy")
    assert rows[0]["AUC"] == pytest.approx(0.875, abs=1e-3)
    assert rows[0]["eS@0.1"] == pytest.approx(0.6, abs=0.01)
    assert "toy" in metrics.anomaly.format_table(rows)


def test_prepare_images_and_inverse():
    particles = np.zeros((3, 4, 3), np.float32)
    particles[:, :2] = [[100.0, 0.05, 0.0], [50.0, -0.1, 0.1]]
    x = inputs.prepare_images(particles, npix=8, batch=2)
    assert x.shape == (3, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(inputs.to_image(x).sum((1, 2)), 1.0, rtol=1e-5)
    logx = inputs.prepare_images(particles, npix=8, transform="log")
    np.testing.assert_allclose(inputs.to_image(logx, "log"), inputs.to_image(x), atol=1e-5)
    with pytest.raises(ValueError):
        inputs.prepare_images(particles, transform="cube")


def test_exercise_checks(capsys):
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert exercises.check("03_rz", np.sum(mu**2 / np.exp(logvar), -1), mu, logvar)
    assert not exercises.check("03_rz", np.sum(mu**2 / np.exp(0.5 * logvar), -1), mu, logvar)
    s = rng.normal(size=5000)
    assert exercises.check("03_threshold", np.quantile(s, 0.99), s, 0.01)
    assert not exercises.check("03_threshold", np.quantile(s, 0.9), s, 0.01)
    out = capsys.readouterr().out
    assert str(round(float(np.quantile(s, 0.99)), 3)) not in out
