"""Generate a whole dataset from seeded chunks; the CLI behind every shipped file.

A dataset is the concatenation of chunks ``0, 1, 2, ...`` of every class, truncated to the
requested number of jets per class. Chunk ``k`` of class ``c`` always uses the seed
:func:`~jetkit.data.specs.chunk_seed` ``(base_seed, c, k)``, so the output is byte-identical
whether the chunks run serially or in parallel (``--jobs``), and an interrupted run resumes from
its finished chunks. Worker processes are started with the ``spawn`` method: forking a process
that has JAX loaded can deadlock.

CLI::

    python -m jetkit.data.generate top_qcd --jobs 2
    python -m jetkit.data.generate jet5 --jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import shlex
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from jetkit.data.events import generate_chunk
from jetkit.data.files import save_npz, write_manifest_entry
from jetkit.data.specs import DATA_DIR, DATASETS, DatasetSpec

__all__ = ["assemble", "generate_dataset", "hls4ml_features_batched", "main", "pythia_jets_per_second",
           "run_chunks"]

COMMAND = "python -m jetkit.data.generate"


def _chunk_path(cache: Path, spec: DatasetSpec, c: int, k: int) -> Path:
    return cache / spec.name / f"{spec.classes[c].name}-{k:05d}.npz"


def _run_chunk(args) -> tuple[int, int, int, float]:
    spec, c, k, path = args
    chunk = generate_chunk(spec, c, k)
    save_npz(
        path,
        {
            "particles": chunk["particles"],
            "jets": chunk["jets"],
            "n_constituents": chunk["n_constituents"],
            "n_events": np.int64(chunk["n_events"]),
            "seconds": np.float64(chunk["seconds"]),
        },
    )
    return c, k, len(chunk["jets"]), chunk["seconds"]


def _load_chunk(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# --------------------------------------------------------------------------------------------
# A whole dataset
# --------------------------------------------------------------------------------------------


def run_chunks(spec: DatasetSpec, cache: Path, jobs: int = 1, progress: bool = True) -> dict:
    """Run (or resume) chunks of every class until each has ``n_per_class`` jets.

    Returns ``{class_index: [chunk paths in order]}`` covering at least the requested jets,
    plus timing statistics under the key ``"stats"``."""
    from tqdm.auto import tqdm

    n_cls = len(spec.classes)
    counts: dict[int, dict[int, int]] = {c: {} for c in range(n_cls)}
    seconds = {c: 0.0 for c in range(n_cls)}
    events = {c: 0 for c in range(n_cls)}
    for c in range(n_cls):  # resume: finished chunks on disk count already
        k = 0
        while (path := _chunk_path(cache, spec, c, k)).exists():
            chunk = _load_chunk(path)
            counts[c][k] = len(chunk["jets"])
            seconds[c] += float(chunk["seconds"])
            events[c] += int(chunk["n_events"])
            k += 1

    def jets_in_prefix(c: int) -> int:
        total, k = 0, 0
        while k in counts[c]:
            total += counts[c][k]
            k += 1
        return total

    submitted = {c: set(counts[c]) for c in range(n_cls)}
    bar = tqdm(total=spec.n_per_class * n_cls, desc=f"{spec.name} jets", disable=not progress)
    bar.update(sum(min(jets_in_prefix(c), spec.n_per_class) for c in range(n_cls)))
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {}
        while True:
            # Keep every worker busy with the next chunks of classes that are still short.
            for c in range(n_cls):
                have = jets_in_prefix(c)
                if have >= spec.n_per_class:
                    continue
                done = [counts[c][k] for k in counts[c]]
                rate = max(np.mean(done), 1.0) if done else 50.0
                in_flight = len(submitted[c]) - len(counts[c])
                need = math.ceil((spec.n_per_class - have) / rate) - in_flight
                while need > 0 and len(running) < 2 * jobs:
                    k = 0
                    while k in submitted[c]:
                        k += 1
                    submitted[c].add(k)
                    fut = pool.submit(_run_chunk, (spec, c, k, _chunk_path(cache, spec, c, k)))
                    running[fut] = (c, k)
                    need -= 1
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                c, k = running.pop(fut)
                before = min(jets_in_prefix(c), spec.n_per_class)
                _, _, n, secs = fut.result()
                counts[c][k] = n
                seconds[c] += secs
                events[c] += _load_chunk(_chunk_path(cache, spec, c, k))["n_events"].item()
                bar.update(min(jets_in_prefix(c), spec.n_per_class) - before)
    bar.close()
    chunk_paths = {}
    for c in range(n_cls):
        paths, total, k = [], 0, 0
        while total < spec.n_per_class:
            paths.append(_chunk_path(cache, spec, c, k))
            total += counts[c][k]
            k += 1
        chunk_paths[c] = paths
    stats = {
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds_per_class": seconds,
        "events_per_class": events,
    }
    return {"chunks": chunk_paths, "stats": stats}


def assemble(spec: DatasetSpec, chunk_paths: dict[int, list[Path]]) -> dict[str, np.ndarray]:
    """Concatenate chunks class by class, truncate to ``n_per_class``, add labels and (for
    datasets with ``with_hlf``) the 16 hls4ml-style high-level features."""
    parts = {"particles": [], "jets": [], "n_constituents": [], "labels": []}
    for c, paths in chunk_paths.items():
        chunks = [_load_chunk(p) for p in paths]
        for key in ("particles", "jets", "n_constituents"):
            parts[key].append(np.concatenate([ch[key] for ch in chunks])[: spec.n_per_class])
        parts["labels"].append(np.full(spec.n_per_class, c, dtype=np.int8))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["mask"] = arrays["particles"][..., 0] > 0
    arrays["class_names"] = np.array([p.name for p in spec.classes])
    if spec.with_hlf:
        from jetkit.physics.hlf import HLF_NAMES

        arrays["hlf"] = hls4ml_features_batched(
            arrays["particles"].astype(np.float32), arrays["mask"], arrays["n_constituents"]
        )
        arrays["hlf_names"] = np.array(HLF_NAMES)
    return arrays


def hls4ml_features_batched(particles, mask, multiplicity, batch: int = 2048) -> np.ndarray:
    """The 16 high-level features for many jets, in batches (bounded memory)."""
    from jetkit.physics.hlf import hls4ml_features

    out = []
    for i in range(0, len(particles), batch):
        sl = slice(i, i + batch)
        out.append(np.asarray(hls4ml_features(particles[sl], mask[sl], multiplicity[sl])))
    return np.concatenate(out).astype(np.float32)


def generate_dataset(name: str, out_dir: Path = DATA_DIR, jobs: int = 1, cache: Path | None = None,
                     overrides: dict | None = None, output: str | None = None,
                     command: str | None = None, progress: bool = True) -> Path:
    """Generate (or resume) one dataset, write ``<output>.npz`` and its MANIFEST entry."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    spec = dataclasses.replace(DATASETS[name], **(overrides or {}))
    output = output or name
    cache = Path(cache) if cache else out_dir / ".cache" / output
    run = run_chunks(spec, cache, jobs=jobs, progress=progress)
    arrays = assemble(spec, run["chunks"])
    path = Path(out_dir) / f"{output}.npz"
    save_npz(path, arrays)
    write_manifest_entry(
        output, path, spec, arrays, command or f"{COMMAND} {name}", run["stats"],
        {c: len(p) for c, p in run["chunks"].items()},
    )
    return path


def pythia_jets_per_second(class_name: str = "g", events: int = 60, dataset: str = "jet5",
                           chunk_index: int = 999) -> dict:
    """Time the full simulation chain (Pythia 8 + FastJet + selection) for ``events`` events of
    one class; returns ``{"jets", "seconds", "jets_per_second"}``."""
    spec = dataclasses.replace(DATASETS[dataset], events_per_chunk=int(events))
    names = [c.name for c in spec.classes]
    if class_name not in names:
        raise ValueError(f"unknown class {class_name!r}; {dataset} has {names}")
    t0 = time.perf_counter()
    out = generate_chunk(spec, names.index(class_name), chunk_index)
    seconds = time.perf_counter() - t0
    n = len(out["jets"])
    return {"jets": n, "seconds": seconds, "jets_per_second": n / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Generate jets with Pythia 8 + FastJet."
    )
    parser.add_argument("dataset", choices=[*DATASETS, "all"])
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: the dataset's)")
    parser.add_argument("--n-per-class", type=int, default=None)
    parser.add_argument("--pt-min", type=float, default=None, help="jet pT window low edge [GeV]")
    parser.add_argument("--pt-max", type=float, default=None, help="jet pT window high edge [GeV]")
    parser.add_argument("--eta-max", type=float, default=None)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", default=None, help="file stem (default: the dataset name)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for finished chunks")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    overrides = {
        k: v
        for k, v in {
            "base_seed": args.seed,
            "n_per_class": args.n_per_class,
            "pt_min": args.pt_min,
            "pt_max": args.pt_max,
            "eta_max": args.eta_max,
        }.items()
        if v is not None
    }
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    for name in names:
        argv_str = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        argv_str = argv_str.replace("all", name, 1) if args.dataset == "all" else argv_str
        path = generate_dataset(
            name, args.out_dir, jobs=args.jobs, cache=args.cache, overrides=overrides,
            output=args.output if len(names) == 1 else None,
            command=f"{COMMAND} {argv_str}",
        )
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
