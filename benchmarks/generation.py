"""Generation throughput of Pythia 8 + FastJet: serial, 2 local worker processes, and a
2-worker Dask LocalCluster (the same seeded chunks, so the same bytes).

    python benchmarks/generation.py [--jets 400]

Runs the top_qcd recipe (both classes) into temporary folders and prints jets/s, events/s and
the speed-up over the serial run, plus the totals recorded in data/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from jetkit.data import executors, files, generate, specs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jets", type=int, default=400, help="jets per class per run")
    args = parser.parse_args()
    spec = dataclasses.replace(specs.DATASETS["top_qcd"], n_per_class=args.jets, events_per_chunk=200)
    print("| executor | workers | jets | events | wall [s] | jets/s | ratio to serial | same bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    reference, serial_rate = None, None
    for label, jobs in (("processes", 1), ("processes", 2), ("dask LocalCluster", 2)):
        with tempfile.TemporaryDirectory() as tmp:
            executor, close = None, (lambda: None)
            if label.startswith("dask"):
                executor, jobs, close = executors.dask_executor(workers=jobs)
            try:
                t0 = time.perf_counter()  # cluster start-up excluded, as on a running cluster
                run = generate.run_chunks(spec, Path(tmp), jobs=jobs, progress=False, executor=executor)
                wall = time.perf_counter() - t0
            finally:
                close()
            arrays = generate.assemble(spec, run["chunks"])
            files.save_npz(Path(tmp) / "out.npz", arrays)
            blob = (Path(tmp) / "out.npz").read_bytes()
            reference = reference or blob
            events = sum(run["stats"]["events_per_class"].values())
            n = len(arrays["labels"])
            serial_rate = serial_rate or n / wall
            print(f"| {label} | {jobs} | {n} | {events} | {wall:.1f} | {n / wall:.1f} | "
                  f"{n / wall / serial_rate:.2f} | {blob == reference} |")
    manifest = json.loads((specs.DATA_DIR / "MANIFEST.json").read_text())
    print("\nShipped datasets (from MANIFEST.json, CPU seconds summed over workers):")
    for name, entry in manifest.items():
        gen = entry["generation"]
        cpu = sum(gen["cpu_seconds"].values())
        jets = sum(entry["counts"].values())
        print(f"- {name}: {jets} jets from {sum(gen['events'].values())} events in {cpu:.0f} CPU s "
              f"({jets / cpu:.1f} jets per CPU second)")


if __name__ == "__main__":
    main()
