"""Scale-out on existing engines: generation on a Dask cluster and as batch-system chunk jobs
gives the serial run's bytes and resumes after a kill; several JAX processes train like one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jetkit.data import executors, generate, load, specs

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
NAME = "top_qcd"
OVERRIDES = {"n_per_class": 40, "events_per_chunk": 20}
ARGS = [NAME, "--n-per-class", "40", "--events-per-chunk", "20"]
STEM = generate.output_name(NAME, OVERRIDES)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("serial")
    path = generate.generate_dataset(NAME, out, jobs=1, overrides=OVERRIDES, progress=False)
    return path.read_bytes()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_bytes(serial, tmp_path):
    executor, threads, close = executors.dask_executor(workers=2)
    try:
        assert threads == 2
        path = generate.generate_dataset(NAME, tmp_path, jobs=threads, overrides=OVERRIDES,
                                         executor=executor, progress=False)
    finally:
        close()
    assert path.read_bytes() == serial
    entry = json.loads((tmp_path / "MANIFEST.json").read_text())[STEM]
    assert entry["counts"] == {"qcd": 40, "top": 40}
    jets = load(STEM, data_dir=tmp_path)  # a bigger or re-seeded dataset loads like a shipped one
    assert jets.counts() == {"qcd": 40, "top": 40} and jets.particles.shape == (80, 64, 3)


@pytest.mark.slow
def test_killed_dask_run_resumes_from_its_finished_chunks(serial, tmp_path):
    cmd = [sys.executable, "-m", "jetkit.data.generate", *ARGS, "--executor", "dask", "--jobs", "2",
           "--out-dir", str(tmp_path)]
    cache = tmp_path / ".cache" / STEM / NAME
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(cache.glob("*.npz")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its cluster's workers
        proc.wait()
    assert not (tmp_path / f"{STEM}.npz").exists(), "the run finished before it was killed"
    survivors = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    assert survivors, "no chunk was finished before the kill"
    assert generate.main([*ARGS, "--executor", "dask", "--jobs", "2", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{STEM}.npz").read_bytes() == serial
    # the chunks finished before the kill were reused, not regenerated
    assert {n: (cache / n).stat().st_mtime_ns for n in survivors} == survivors


@pytest.mark.slow
def test_chunk_jobs_then_assemble_give_the_serial_bytes(serial, tmp_path, capsys):
    common = [*ARGS, "--out-dir", str(tmp_path)]
    assert generate.main([*common, "--chunks", "0:1"]) == 0
    assert generate.main([*common, "--assemble"]) == 1  # not enough jets yet: says what to run
    assert "--chunks 1:" in capsys.readouterr().err
    assert generate.main([*common, "--chunks", "1:6", "--jobs", "2"]) == 0
    assert generate.main([*common, "--assemble"]) == 0
    assert (tmp_path / f"{STEM}.npz").read_bytes() == serial
    entry = json.loads((tmp_path / "MANIFEST.json").read_text())[STEM]
    # the recorded recipe is the one-go command that regenerates the same file
    assert entry["command"] == " ".join([generate.COMMAND, *common])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_jax_processes_train_like_one(tmp_path):
    worker = [sys.executable, str(ROOT / "tests" / "scale_out_worker.py"), str(tmp_path)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    subprocess.run([*worker, "1", "0", "0"], env=env, check=True, timeout=300, capture_output=True)
    port = str(_free_port())
    procs = [subprocess.Popen([*worker, "2", str(i), port], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    one = json.loads((tmp_path / "losses-1-0.json").read_text())
    for pid in range(2):
        two = json.loads((tmp_path / f"losses-2-{pid}.json").read_text())
        assert len(two["step_loss"]) == len(one["step_loss"]) == 30
        np.testing.assert_allclose(two["step_loss"], one["step_loss"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(two["prediction"], one["prediction"], rtol=0, atol=1e-4)
    assert one["step_loss"][-1] < one["step_loss"][0]  # it learns
    # the checkpoint is written once, by process 0, with the trained weights
    assert (tmp_path / "model-2-0.npz").exists() and not (tmp_path / "model-2-1.npz").exists()
    with np.load(tmp_path / "model-2-0.npz") as a, np.load(tmp_path / "model-1-0.npz") as b:
        for key in b.files:
            if key != "__metadata__":
                np.testing.assert_allclose(a[key], b[key], atol=1e-5)


def test_dataset_names_of_changed_recipes_never_clash_with_the_shipped_files():
    assert generate.output_name(NAME) == NAME
    assert generate.output_name(NAME, {"n_per_class": 25_000}) == NAME  # unchanged value
    assert generate.output_name(NAME, {"n_per_class": 100_000, "base_seed": 7}) == "top_qcd_seed7_n100000"
    with pytest.raises(ValueError, match="shipped dataset"):
        generate.generate_dataset(NAME, specs.DATA_DIR, overrides={"n_per_class": 10}, output=NAME)


def test_chunk_ranges_are_checked():
    with pytest.raises(SystemExit):
        generate.main([NAME, "--chunks", "3:1"])
    with pytest.raises(SystemExit):
        generate.main([NAME, "--chunks", "x"])
    with pytest.raises(SystemExit):
        generate.main([NAME, "--chunks", "0:2", "--assemble"])
    with pytest.raises(ValueError, match="jobs"):
        executors.local_pool(0)


def test_parallel_helpers_in_one_process():
    from jetkit import parallel

    assert parallel.is_main_process()
    data_sharding, replicated = parallel.placement(8)
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    idx = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    batch = parallel.process_batch({"x": x}, idx, data_sharding)
    np.testing.assert_array_equal(np.asarray(batch["x"]), x[idx])
    np.testing.assert_array_equal(np.asarray(parallel.replicate(x, replicated)), x)
    with pytest.raises(ValueError, match="num_processes"):
        parallel.initialize("127.0.0.1:1", 0, 0)
    with pytest.raises(ValueError, match="process_id"):
        parallel.initialize("127.0.0.1:1", 2, 2)


def test_over_jets_splits_jets_over_devices_and_matches_one_device():
    """Per-jet work over the CPU devices (one per core after ``import jetkit``) gives the
    single-device values, for a batch that needs padding and inside jit (where it steps aside)."""
    import jax
    import jax.numpy as jnp

    from jetkit import parallel

    def per_jet(x, m, *, scale):
        return {"s": scale * jnp.sum(jnp.where(m, x, 0.0), axis=1), "x": x}

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * jax.local_device_count() + 1, 5)).astype(np.float32)
    m = rng.random(x.shape) < 0.7
    out = parallel.over_jets(per_jet, x, m, scale=2.0)
    ref = per_jet(x, m, scale=2.0)
    np.testing.assert_allclose(np.asarray(out["s"]), np.asarray(ref["s"]), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["x"]), x)
    inside = jax.jit(lambda a, b: parallel.over_jets(per_jet, a, b, scale=2.0)["s"])(x, m)
    np.testing.assert_allclose(np.asarray(inside), np.asarray(ref["s"]), rtol=1e-6)
    with pytest.raises(ValueError, match="same number of jets"):
        parallel.over_jets(per_jet, x, m[:-1], scale=2.0)


def test_cpu_devices_respects_an_explicit_setting(monkeypatch):
    from jetkit import parallel

    assert parallel.available_cores() >= 1
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert parallel.cpu_devices() == 3
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("JETKIT_CPU_DEVICES", "1")
    assert parallel.cpu_devices() == 1 and "device_count" not in os.environ["XLA_FLAGS"]
    with pytest.raises(ValueError, match="at least one"):
        parallel.cpu_devices(0)


def test_device_name_says_where_jax_computes():
    import jax

    from jetkit import parallel

    name = parallel.device_name()
    if jax.default_backend() == "cpu":
        assert name == f"{parallel.available_cores()} CPU cores"
    else:
        assert name.startswith(f"{jax.device_count()} x ")
