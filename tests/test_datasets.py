"""Loading, verification, splits and batches of the shipped datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jetkit import data
from jetkit.data.files import save_npz, sha256_file


@pytest.fixture(scope="module")
def top_qcd():
    return data.load("top_qcd")


def _tiny_data_dir(tmp_path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(1)
    particles = np.zeros((n, 5, 3), np.float16)
    particles[:, :3, 0] = rng.uniform(1, 100, (n, 3))
    arrays = {
        "particles": particles,
        "mask": particles[..., 0] > 0,
        "jets": rng.uniform(1, 2, (n, 4)).astype(np.float32),
        "labels": (np.arange(n) % 2).astype(np.int8),
        "n_constituents": np.full(n, 3, np.int16),
        "class_names": np.array(["qcd", "top"]),
    }
    save_npz(tmp_path / "tiny.npz", arrays)
    entry = {"file": "tiny.npz", "sha256": sha256_file(tmp_path / "tiny.npz"),
             "command": "python -m jetkit.data.generate tiny"}
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"tiny": entry}))
    return tmp_path


def test_shipped_top_qcd_follows_the_data_format(top_qcd):
    d = top_qcd
    assert d.class_names == ("qcd", "top")
    assert min(d.counts().values()) >= 25_000
    assert d.particles.shape[1:] == (64, 3) and d.particles.dtype == np.float32
    assert d.mask.dtype == bool and np.array_equal(d.mask, d.particles[..., 0] > 0)
    pt = d.particles[..., 0]
    assert np.all(np.diff(pt, axis=1) <= 0), "constituents must be sorted by pT, padding last"
    assert np.all(np.abs(d.particles[..., 2]) <= np.pi)
    assert np.all((d.jets[:, 0] >= 550) & (d.jets[:, 0] <= 650)) and np.all(np.abs(d.jets[:, 1]) < 2)
    assert np.all(d.particles[~d.mask] == 0), "padding must be exactly zero"
    stored = d.mask.sum(1)
    assert np.all(stored <= np.minimum(d.n_constituents, 64))
    # constituents below 6e-8 GeV underflow float16 and become padding: about 1 jet in 500
    assert np.mean(stored == np.minimum(d.n_constituents, 64)) > 0.995
    # physics sanity: top jets are heavier than QCD jets on average
    m = d.jets[:, 3]
    assert np.median(m[d.labels == 1]) > 140 > np.median(m[d.labels == 0])


def test_shipped_jet5_has_the_16_features():
    d = data.load("jet5", max_per_class=200)
    assert d.class_names == ("g", "q", "t", "w", "z")
    assert d.counts() == {c: 200 for c in d.class_names}
    assert d.particles.shape[1:] == (30, 3)
    assert d.hlf.shape == (1000, 16) and len(d.hlf_names) == 16
    assert np.all(np.isfinite(d.hlf))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="top_qcd") as err:
        data.load("tops")
    assert "jet5" in str(err.value)


def test_missing_file_names_the_file_and_the_command(tmp_path):
    data_dir = _tiny_data_dir(tmp_path)
    (data_dir / "tiny.npz").unlink()
    with pytest.raises(FileNotFoundError, match="tiny.npz") as err:
        data.load("tiny", data_dir)
    assert "python -m jetkit.data.generate" in str(err.value)


def test_corrupt_file_fails_the_checksum(tmp_path):
    data_dir = _tiny_data_dir(tmp_path)
    raw = bytearray((data_dir / "tiny.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (data_dir / "tiny.npz").write_bytes(bytes(raw))
    with pytest.raises(OSError, match="checksum"):
        data.load("tiny", data_dir)


def test_load_options(tmp_path):
    data_dir = _tiny_data_dir(tmp_path)
    d = data.load("tiny", data_dir, classes=["top"], max_per_class=7)
    assert len(d) == 7 and set(d.labels.tolist()) == {1}
    with pytest.raises(ValueError, match="unknown class"):
        data.load("tiny", data_dir, classes=["higgs"])
    with pytest.raises(ValueError, match="max_per_class"):
        data.load("tiny", data_dir, max_per_class=0)


def test_split_is_deterministic_stratified_and_disjoint(tmp_path):
    d = data.load("tiny", _tiny_data_dir(tmp_path, n=200))
    d = data.JetDataset(**{**d.__dict__, "jets": np.arange(200, dtype=np.float32)[:, None].repeat(4, 1)})
    a = data.split(d, seed=3)
    b = data.split(d, seed=3)
    ids = [part.jets[:, 0] for part in a]
    assert [len(x) for x in ids] == [140, 30, 30]
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), np.arange(200))
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.jets, pb.jets)
    for part in a:
        assert abs(part.labels.mean() - 0.5) < 1e-9
    assert not np.array_equal(data.split(d, seed=4).train.jets, a.train.jets)
    with pytest.raises(ValueError, match="fractions"):
        data.split(d, (0.5, 0.5, 0.5))


def test_batches_cover_everything_once(tmp_path):
    d = data.load("tiny", _tiny_data_dir(tmp_path, n=50))
    sizes = [len(b) for b in data.batches(d, 16, seed=0)]
    assert sizes == [16, 16, 16, 2]
    assert [len(b) for b in data.batches(d, 16, seed=0, drop_last=True)] == [16, 16, 16]
    ordered = list(data.batches(d, 50, seed=None))[0]
    np.testing.assert_array_equal(ordered.jets, d.jets)
    with pytest.raises(ValueError):
        next(data.batches(d, 0))


def test_dataset_is_a_pytree(tmp_path):
    d = data.load("tiny", _tiny_data_dir(tmp_path))
    leaves = jax.tree_util.tree_leaves(d)
    assert len(leaves) == 5  # hlf is None
    doubled = jax.tree_util.tree_map(lambda x: x, d)
    assert doubled.class_names == d.class_names
    assert d.of_class("top").counts() == {"qcd": 0, "top": 20}


def test_regenerate_command_comes_from_the_manifest():
    assert data.regenerate_command("top_qcd").startswith("python -m jetkit.data.generate top_qcd")
    assert "top_qcd" in data.available() and "jet5" in data.available()
