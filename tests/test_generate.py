"""The generator: seeds, truth matching, jet arrays, byte-reproducible files, parallel = serial,
resume, and the shipped datasets regenerated from their recorded seeds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from jetkit.data import events, executors, files, generate, specs, truth

DATA = Path(specs.DATA_DIR)


def test_chunk_seeds_are_deterministic_distinct_and_in_pythia_range():
    seeds = [specs.chunk_seed(7, c, k) for c in range(5) for k in range(200)]
    assert seeds == [specs.chunk_seed(7, c, k) for c in range(5) for k in range(200)]
    assert len(set(seeds)) == len(seeds)
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert specs.chunk_seed(8, 0, 0) != specs.chunk_seed(7, 0, 0)


def test_pythia_settings_contain_the_physics_choices():
    spec = specs.DATASETS["top_qcd"]
    lines = specs.pythia_settings(spec, spec.classes[1], 123)
    assert "Beams:eCM = 13000." in lines
    assert "Random:seed = 123" in lines
    assert "24:onIfAny = 1 2 3 4 5" in lines  # hadronic W in top decays
    lo, hi = spec.pthat_range(spec.classes[1])
    assert lo <= spec.pt_min and hi >= spec.pt_max


def _truth(**kw):
    t = {"top": [], "w": [], "z": [], "partons": []}
    t.update(kw)
    return t


def test_top_match_needs_every_decay_product_inside_the_jet():
    inside = [(0.1, 0.1), (0.3, -0.2), (-0.4, 0.3), (0.0, 0.5)]
    assert truth.match_jet("top", 0.0, 0.0, _truth(top=[inside]))
    outside = inside[:3] + [(0.9, 0.0)]
    assert not truth.match_jet("top", 0.0, 0.0, _truth(top=[outside]))
    # across the phi = pi boundary
    wrapped = [(0.0, np.pi - 0.1), (0.0, -np.pi + 0.1), (0.1, np.pi), (0.0, -np.pi + 0.3)]
    assert truth.match_jet("top", 0.0, np.pi, _truth(top=[wrapped]))


def test_quark_gluon_match_uses_the_closest_hard_parton():
    partons = [(0.1, 0.0, 21), (2.0, 1.0, 2)]
    assert truth.match_jet("gluon", 0.0, 0.0, _truth(partons=partons))
    assert not truth.match_jet("quark", 0.0, 0.0, _truth(partons=partons))
    assert truth.match_jet("quark", 2.0, 1.1, _truth(partons=partons))
    assert not truth.match_jet("quark", 5.0, 1.1, _truth(partons=partons))  # nothing within 0.8
    b = [(0.0, 0.0, 5)]
    assert not truth.match_jet("quark", 0.0, 0.0, _truth(partons=b))  # b quarks are not "q"
    with pytest.raises(ValueError):
        truth.match_jet("higgs", 0.0, 0.0, _truth())


def test_jet_arrays_sort_pad_and_relative_coordinates():
    rng = np.random.default_rng(0)
    pt = rng.uniform(1, 50, 10)
    eta = 0.5 + rng.normal(0, 0.2, 10)
    phi = np.pi - 0.05 + rng.normal(0, 0.2, 10)  # straddles the phi boundary
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], 1)
    jet, particles, n = events.jet_arrays(p4, 16)
    assert n == 10 and particles.shape == (16, 3)
    assert np.all(np.diff(particles[:10, 0]) <= 0) and np.all(particles[10:] == 0)
    np.testing.assert_allclose(np.sort(particles[:10, 0]), np.sort(pt))
    assert np.all(np.abs(particles[:10, 2]) < 1.0)  # wrapped, not ~2 pi
    jet4, part4, n4 = events.jet_arrays(p4, 4)  # truncation keeps the leading four
    assert n4 == 10 and np.allclose(part4, particles[:4]) and np.allclose(jet4, jet)
    assert jet[3] > 0


def test_save_npz_is_byte_reproducible_and_atomic(tmp_path):
    arrays = {"a": np.arange(10, dtype=np.float16), "b": np.array(["x", "yz"])}
    files.save_npz(tmp_path / "one.npz", arrays)
    files.save_npz(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.npz", "two.npz"]  # no temp files
    with np.load(tmp_path / "one.npz") as f:
        np.testing.assert_array_equal(f["a"], arrays["a"])


TINY = dataclasses.replace(specs.DATASETS["top_qcd"], n_per_class=25, events_per_chunk=30)


@pytest.mark.slow
def test_parallel_run_equals_serial_run_and_resumes(tmp_path):
    blobs = {}
    for jobs in (1, 2):
        run = generate.run_chunks(TINY, tmp_path / f"cache{jobs}", jobs=jobs, progress=False)
        files.save_npz(tmp_path / f"out{jobs}.npz", generate.assemble(TINY, run["chunks"]))
        blobs[jobs] = (tmp_path / f"out{jobs}.npz").read_bytes()
    assert blobs[1] == blobs[2]
    # resume: a second run over a finished cache generates nothing new
    cache = tmp_path / "cache1"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    generate.run_chunks(TINY, cache, jobs=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")} == before
    with np.load(tmp_path / "out1.npz") as f:
        assert f["particles"].shape == (50, 64, 3)
        assert list(f["class_names"]) == ["qcd", "top"]
        assert np.all((f["jets"][:, 0] >= 550) & (f["jets"][:, 0] <= 650))


def _manifest() -> dict:
    return json.loads((DATA / "MANIFEST.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["top_qcd", "jet5", "top_qcd_fsr"])
def test_first_chunk_regenerates_the_shipped_bytes(name):
    """Chunk 0 of the first class, regenerated from the recorded seed, is identical to the first
    rows of the shipped file (same arrays, same bytes)."""
    entry = _manifest()[name]
    spec = dataclasses.replace(specs.DATASETS[name], base_seed=entry["seeds"]["base_seed"])
    chunk = events.generate_chunk(spec, 0, 0)
    n = len(chunk["jets"])
    assert n > 0
    with np.load(DATA / entry["file"]) as f:
        assert f["particles"][:n].tobytes() == chunk["particles"].tobytes()
        assert f["jets"][:n].tobytes() == chunk["jets"].tobytes()
        assert f["n_constituents"][:n].tobytes() == chunk["n_constituents"].tobytes()
        if spec.with_hlf:
            # features on all constituents (XLA may vectorise differently on another CPU)
            np.testing.assert_allclose(chunk["hlf"], f["hlf"][:n], rtol=1e-5, atol=1e-6)


def test_manifest_records_provenance():
    manifest = _manifest()
    for name in ("top_qcd", "jet5", "top_qcd_fsr"):
        entry = manifest[name]
        path = DATA / entry["file"]
        assert path.stat().st_size == entry["bytes"]
        assert files.sha256_file(path) == entry["sha256"]
        assert entry["command"].startswith("python -m jetkit.data.generate " + name)
        assert entry["versions"]["pythia8mc"] == "8.317.2"
        assert set(entry["counts"]) == {p.name for p in specs.DATASETS[name].classes}
    assert min(manifest["top_qcd"]["counts"].values()) >= 25_000
    assert min(manifest["jet5"]["counts"].values()) >= 10_000
    assert min(manifest["top_qcd_fsr"]["counts"].values()) >= 4_000
    total = sum(manifest[n]["bytes"] for n in manifest)
    assert total < 50e6, f"data/ is {total / 1e6:.1f} MB; keep it under ~50 MB"


def test_recorded_rate_is_jets_over_cpu_seconds(tmp_path):
    entry = _manifest()["jet5"]
    rate = generate.recorded_jets_per_cpu_second("g")
    assert rate == entry["counts"]["g"] / entry["generation"]["cpu_seconds"]["g"]
    assert 0.1 < rate < 1000  # jets per CPU second: Pythia is slow, but not that slow
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"x": {"counts": {"a": 10},
                                                              "generation": {"cpu_seconds": {"a": 4.0}}}}))
    assert generate.recorded_jets_per_cpu_second("a", "x", tmp_path) == 2.5
    with pytest.raises(ValueError, match="unknown class"):
        generate.recorded_jets_per_cpu_second("photon")
    with pytest.raises(ValueError, match="no MANIFEST entry"):
        generate.recorded_jets_per_cpu_second("g", "jet9")


def test_cli_rejects_unknown_dataset_and_bad_jobs(capsys):
    with pytest.raises(SystemExit):
        generate.main(["nope"])
    with pytest.raises(SystemExit):
        generate.main(["top_qcd", "--jobs", "0"])
    with pytest.raises(ValueError, match="known"):
        generate.generate_dataset("nope")


def test_generate_event_gives_a_whole_clustered_event():
    ev = events.generate_event("top_qcd", "top", seed=3)
    assert ev["selected"].any()
    assert np.all(np.diff(ev["jets"][:, 0]) <= 0)
    members = ev["jet_index"] == 0
    pt, eta, phi = ev["pt"][members], ev["eta"][members], ev["phi"][members]
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], 1)
    jet, _, n = events.jet_arrays(p4, 1)
    np.testing.assert_allclose(jet, ev["jets"][0], rtol=1e-9)
    assert n == members.sum() and (ev["jet_index"] == -1).any()  # soft stuff is in no hard jet
    with pytest.raises(ValueError, match="unknown class"):
        events.generate_event("top_qcd", "higgs")


def test_worker_processes_are_spawned_not_forked(monkeypatch, tmp_path):
    """Forking a process that has JAX loaded can deadlock: the pool must use "spawn"."""
    seen = {}

    class Pool:
        def __init__(self, max_workers, mp_context=None):
            seen["method"] = mp_context.get_start_method() if mp_context else "default (fork on Linux)"
            raise RuntimeError("stop here")

    monkeypatch.setattr(executors, "ProcessPoolExecutor", Pool)
    with pytest.raises(RuntimeError, match="stop here"):
        generate.run_chunks(TINY, tmp_path / "cache", jobs=2, progress=False)
    assert seen["method"] == "spawn"
