"""Generate a whole dataset from seeded chunks; the CLI behind every shipped file.

A dataset is the concatenation of chunks ``0, 1, 2, ...`` of every class, truncated to the
requested number of jets per class. Chunk ``k`` of class ``c`` always uses the seed
:func:`~jetkit.data.specs.chunk_seed` ``(base_seed, c, k)``, so the output is byte-identical
whether the chunks run serially or in parallel (``--jobs``), and an interrupted run resumes from
its finished chunks. Worker processes are started with the ``spawn`` method: forking a process
that has JAX loaded can deadlock.

Chunks run on local worker processes or on a Dask cluster (:mod:`jetkit.data.executors`);
on a batch system without Dask, array jobs each run a range of chunks into a shared cache and
one last job assembles the file.

CLI::

    python -m jetkit.data.generate top_qcd --jobs 2                   # 2 local processes
    python -m jetkit.data.generate top_qcd --executor dask --jobs 8   # a Dask LocalCluster
    python -m jetkit.data.generate top_qcd --scheduler tcp://host:8786  # a running Dask cluster
    python -m jetkit.data.generate top_qcd --n-per-class 100000 --chunks 0:50   # array job 1
    python -m jetkit.data.generate top_qcd --n-per-class 100000 --assemble      # after all jobs

A changed recipe (``--n-per-class``, ``--seed``, ...) is written beside the shipped file under
its own name (``top_qcd_n100000``) with its own MANIFEST entry; ``jetkit.data.load`` loads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from pathlib import Path

import numpy as np

from jetkit.data.events import generate_chunk
from jetkit.data.executors import dask_executor, local_pool
from jetkit.data.files import read_manifest, save_npz, write_manifest_entry
from jetkit.data.specs import DATA_DIR, DATASETS, DatasetSpec

__all__ = ["assemble", "chunk_plan", "generate_dataset", "main", "output_name",
           "pythia_jets_per_second", "recorded_jets_per_cpu_second", "run_chunks"]

COMMAND = "python -m jetkit.data.generate"


def _chunk_path(cache: Path, spec: DatasetSpec, c: int, k: int) -> Path:
    return cache / spec.name / f"{spec.classes[c].name}-{k:05d}.npz"


def _run_chunk(spec: DatasetSpec, c: int, k: int) -> dict[str, np.ndarray]:
    """One chunk as the arrays of its cache file. Runs in a worker (a local process or a Dask
    worker on another machine); the caller writes the file, so workers need no shared disk."""
    chunk = generate_chunk(spec, c, k)
    arrays = {key: chunk[key] for key in ("particles", "jets", "n_constituents", "hlf") if key in chunk}
    arrays["n_events"] = np.int64(chunk["n_events"])
    arrays["seconds"] = np.float64(chunk["seconds"])
    return arrays


def _load_chunk(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _finished_counts(spec: DatasetSpec, cache: Path, c: int) -> dict[int, int]:
    """Jets in every chunk of class ``c`` already in the cache (chunk index -> jets)."""
    folder = cache / spec.name
    name = spec.classes[c].name
    counts = {}
    for path in sorted(folder.glob(f"{name}-*.npz")) if folder.exists() else []:
        k = int(path.stem.rsplit("-", 1)[1])
        with np.load(path) as f:
            counts[k] = len(f["jets"])
    return counts


def _prefix(counts: dict[int, int], n_per_class: int) -> tuple[int, int]:
    """(jets, chunks) of the consecutive finished chunks 0, 1, ... up to ``n_per_class`` jets."""
    total, k = 0, 0
    while k in counts and total < n_per_class:
        total += counts[k]
        k += 1
    return total, k


# --------------------------------------------------------------------------------------------
# A whole dataset
# --------------------------------------------------------------------------------------------


def run_chunks(spec: DatasetSpec, cache: Path, jobs: int = 1, progress: bool = True, *,
               executor: Executor | None = None, chunks: range | None = None) -> dict:
    """Run (or resume) chunks of every class until each has ``n_per_class`` jets.

    Args:
        jobs: chunks in flight at a time (local worker processes when ``executor`` is None).
        executor: any :class:`concurrent.futures.Executor` to run the chunks on, e.g. a Dask
            cluster's ``distributed.Client(address).get_executor()``; not shut down here.
        chunks: run exactly these chunk indices of every class (one array job of a batch
            system), then stop; :func:`chunk_plan` later tells whether the cache is complete.

    Returns ``{"chunks": {class_index: [chunk paths in order]}, "stats": {...}}`` (with
    ``chunks`` given: the paths of that range)."""
    from tqdm.auto import tqdm

    cache = Path(cache)
    n_cls = len(spec.classes)
    counts = {c: _finished_counts(spec, cache, c) for c in range(n_cls)}
    submitted = {c: set(counts[c]) for c in range(n_cls)}
    bar = tqdm(total=spec.n_per_class * n_cls if chunks is None else len(chunks) * n_cls,
               desc=f"{spec.name} {'jets' if chunks is None else 'chunks'}", disable=not progress)
    done_so_far = lambda c: (min(_prefix(counts[c], spec.n_per_class)[0], spec.n_per_class)  # noqa: E731
                             if chunks is None else sum(k in counts[c] for k in chunks))
    bar.update(sum(done_so_far(c) for c in range(n_cls)))
    wall0 = time.perf_counter()
    pool = executor or local_pool(jobs)
    running = {}
    try:
        while True:
            for c in range(n_cls):
                if chunks is not None:  # a fixed range: everything not yet done, at once
                    todo = [k for k in chunks if k not in submitted[c]]
                else:  # keep every worker busy with the next chunks of classes still short
                    have, _ = _prefix(counts[c], spec.n_per_class)
                    if have >= spec.n_per_class:
                        continue
                    rate = max(np.mean(list(counts[c].values())), 1.0) if counts[c] else 50.0
                    in_flight = len(submitted[c]) - len(counts[c])
                    need = math.ceil((spec.n_per_class - have) / rate) - in_flight
                    free = [k for k in range(len(submitted[c]) + need + 1) if k not in submitted[c]]
                    todo = free[: max(need, 0)]
                for k in todo[: max(2 * jobs - len(running), 0)]:
                    submitted[c].add(k)
                    running[pool.submit(_run_chunk, spec, c, k)] = (c, k)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                c, k = running.pop(fut)
                before = done_so_far(c)
                chunk = fut.result()
                save_npz(_chunk_path(cache, spec, c, k), chunk)
                counts[c][k] = len(chunk["jets"])
                bar.update(done_so_far(c) - before)
    finally:
        if executor is None:
            pool.shutdown(cancel_futures=True)
    bar.close()
    if chunks is not None:
        paths = {c: [_chunk_path(cache, spec, c, k) for k in chunks] for c in range(n_cls)}
        return {"chunks": paths, "stats": {"wall_seconds": time.perf_counter() - wall0}}
    plan = chunk_plan(spec, cache)
    plan["stats"]["wall_seconds"] = time.perf_counter() - wall0
    return plan


def chunk_plan(spec: DatasetSpec, cache: Path) -> dict:
    """The cached chunks that make the dataset: for every class the chunks ``0, 1, ...`` up to
    ``n_per_class`` jets, and the events and CPU seconds they took.

    Raises FileNotFoundError when a class is short, naming the chunk range still to run."""
    cache = Path(cache)
    paths, seconds, events = {}, {}, {}
    for c, process in enumerate(spec.classes):
        counts = _finished_counts(spec, cache, c)
        have, k = _prefix(counts, spec.n_per_class)
        if have < spec.n_per_class:
            rate = max(np.mean(list(counts.values())), 1.0) if counts else 50.0
            more = math.ceil((spec.n_per_class - have) / rate)
            got = f"chunks 0..{k - 1}" if k else "no chunk 0 yet"
            raise FileNotFoundError(
                f"{cache / spec.name}: class {process.name!r} has {have} of {spec.n_per_class} jets "
                f"({got}); run the chunks from {k} on, e.g. --chunks {k}:{k + more}")
        paths[c] = [_chunk_path(cache, spec, c, i) for i in range(k)]
        seconds[c], events[c] = 0.0, 0
        for p in paths[c]:
            with np.load(p) as f:
                seconds[c] += float(f["seconds"])
                events[c] += int(f["n_events"])
    return {"chunks": paths, "stats": {"cpu_seconds_per_class": seconds, "events_per_class": events}}


def assemble(spec: DatasetSpec, chunk_paths: dict[int, list[Path]]) -> dict[str, np.ndarray]:
    """Concatenate chunks class by class, truncate to ``n_per_class``, add labels and (for
    datasets with ``with_hlf``) the 16 hls4ml-style high-level features the chunks computed on
    all constituents."""
    keys = ("particles", "jets", "n_constituents") + (("hlf",) if spec.with_hlf else ())
    parts = {k: [] for k in (*keys, "labels")}
    for c, paths in chunk_paths.items():
        chunks = [_load_chunk(p) for p in paths]
        for key in keys:
            missing = [str(p) for p, ch in zip(paths, chunks) if key not in ch]
            if missing:
                raise ValueError(f"chunk files without {key!r} (made by an older jetkit): {missing[:3]}; "
                                 "delete them and rerun")
            parts[key].append(np.concatenate([ch[key] for ch in chunks])[: spec.n_per_class])
        parts["labels"].append(np.full(spec.n_per_class, c, dtype=np.int8))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["mask"] = arrays["particles"][..., 0] > 0
    arrays["class_names"] = np.array([p.name for p in spec.classes])
    if spec.with_hlf:
        from jetkit.physics.hlf import HLF_NAMES

        arrays["hlf_names"] = np.array(HLF_NAMES)
    return arrays


_SUFFIXES = {"base_seed": "seed", "n_per_class": "n", "pt_min": "ptmin", "pt_max": "ptmax",
             "eta_max": "eta", "events_per_chunk": "epc"}


def _number(v) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def output_name(name: str, overrides: dict | None = None) -> str:
    """File stem of a dataset: the shipped name for the shipped recipe, otherwise the name with
    the changed settings appended (``top_qcd_n100000_seed7``), so a bigger or re-seeded dataset
    is written beside the shipped one, never over it."""
    changed = {k: v for k, v in (overrides or {}).items() if getattr(DATASETS[name], k) != v}
    return name + "".join(f"_{_SUFFIXES.get(k, k)}{_number(v)}" for k, v in sorted(changed.items()))


def generate_dataset(name: str, out_dir: Path = DATA_DIR, jobs: int = 1, cache: Path | None = None,
                     overrides: dict | None = None, output: str | None = None,
                     command: str | None = None, progress: bool = True, *,
                     executor: Executor | None = None, assemble_only: bool = False) -> Path:
    """Generate (or resume) one dataset, write ``<output>.npz`` and its MANIFEST entry.

    ``executor`` runs the chunks (see :func:`run_chunks`); ``assemble_only`` builds the file from
    the chunk cache alone (after batch jobs ran ``--chunks``). Refuses to write a changed recipe
    over a shipped dataset's file."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    spec = dataclasses.replace(DATASETS[name], **(overrides or {}))
    output = output or output_name(name, overrides)
    if output in DATASETS and spec != DATASETS[output] and Path(out_dir).resolve() == DATA_DIR.resolve():
        raise ValueError(f"{output!r} is a shipped dataset; write a changed recipe under another "
                         f"--output (default {output_name(name, overrides)!r}) or another --out-dir")
    cache = Path(cache) if cache else Path(out_dir) / ".cache" / output
    if assemble_only:
        run = chunk_plan(spec, cache)
    else:
        run = run_chunks(spec, cache, jobs=jobs, progress=progress, executor=executor)
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


def recorded_jets_per_cpu_second(class_name: str = "g", dataset: str = "jet5", data_dir: Path = DATA_DIR) -> float:
    """Jets of one class per CPU second over the whole shipped dataset, from the generation cost
    recorded in its MANIFEST entry (no start-up, thousands of events): the steady-state rate of
    one core, to set beside the few-event timing of :func:`pythia_jets_per_second`."""
    entry = read_manifest(data_dir).get(dataset)
    if entry is None:
        raise ValueError(f"no MANIFEST entry for dataset {dataset!r} in {data_dir}")
    seconds, counts = entry["generation"]["cpu_seconds"], entry["counts"]
    if class_name not in seconds:
        raise ValueError(f"unknown class {class_name!r}; {dataset} has {sorted(seconds)}")
    return counts[class_name] / seconds[class_name]


def _chunk_range(text: str) -> range:
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--chunks takes START:STOP, e.g. 0:8; got {text!r}") from None
    if not 0 <= start < stop:
        raise argparse.ArgumentTypeError(f"--chunks needs 0 <= START < STOP, got {text!r}")
    return range(start, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Generate jets with Pythia 8 + FastJet."
    )
    parser.add_argument("dataset", choices=[*DATASETS, "all"])
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel worker processes (with --executor dask: LocalCluster workers)")
    parser.add_argument("--executor", choices=["processes", "dask"], default="processes",
                        help="where chunks run: local processes or Dask (dask.distributed)")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (implies --executor dask)")
    parser.add_argument("--chunks", type=_chunk_range, default=None, metavar="START:STOP",
                        help="only run these chunks of every class into the cache (batch array jobs)")
    parser.add_argument("--assemble", action="store_true",
                        help="build the dataset from the chunk cache (after --chunks jobs)")
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: the dataset's)")
    parser.add_argument("--n-per-class", type=int, default=None)
    parser.add_argument("--pt-min", type=float, default=None, help="jet pT window low edge [GeV]")
    parser.add_argument("--pt-max", type=float, default=None, help="jet pT window high edge [GeV]")
    parser.add_argument("--eta-max", type=float, default=None)
    parser.add_argument("--events-per-chunk", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", default=None, help="file stem (default: the dataset name, "
                        "with the changed settings appended)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for finished chunks")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.chunks is not None and args.assemble:
        parser.error("--chunks and --assemble are separate steps")
    if args.n_per_class is not None and args.n_per_class < 1:
        parser.error("--n-per-class must be at least 1")
    overrides = {
        k: v
        for k, v in {
            "base_seed": args.seed,
            "n_per_class": args.n_per_class,
            "pt_min": args.pt_min,
            "pt_max": args.pt_max,
            "eta_max": args.eta_max,
            "events_per_chunk": args.events_per_chunk,
        }.items()
        if v is not None
    }
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    executor, jobs, close = None, args.jobs, lambda: None
    if (args.executor == "dask" or args.scheduler) and not args.assemble:
        executor, jobs, close = dask_executor(args.scheduler, args.jobs)
    try:
        for name in names:
            output = args.output if len(names) == 1 else None
            if args.chunks is not None:
                spec = dataclasses.replace(DATASETS[name], **overrides)
                cache = args.cache or args.out_dir / ".cache" / (output or output_name(name, overrides))
                run_chunks(spec, cache, jobs=jobs, executor=executor, chunks=args.chunks)
                print(f"chunks {args.chunks.start}:{args.chunks.stop} of {name} are in {cache}")
                continue
            words = [w for w in (argv if argv is not None else sys.argv[1:]) if w != "--assemble"]
            argv_str = " ".join(shlex.quote(a) for a in words)
            argv_str = argv_str.replace("all", name, 1) if args.dataset == "all" else argv_str
            try:
                path = generate_dataset(
                    name, args.out_dir, jobs=jobs, cache=args.cache, overrides=overrides, output=output,
                    command=f"{COMMAND} {argv_str}", executor=executor, assemble_only=args.assemble,
                )
            except (FileNotFoundError, ValueError) as err:  # incomplete cache, shipped name
                print(f"{COMMAND}: {err}", file=sys.stderr)
                return 1
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    finally:
        close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
