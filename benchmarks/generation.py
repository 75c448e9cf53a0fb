"""Generation throughput of Pythia 8 + FastJet with 1 and 2 worker processes.

    python benchmarks/generation.py [--jets 400]

Runs the top_qcd recipe (both classes) into temporary folders and prints jets/s and events/s,
plus the totals recorded in data/MANIFEST.json for the shipped datasets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from jetkit.data import generate, specs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jets", type=int, default=400, help="jets per class per run")
    args = parser.parse_args()
    spec = dataclasses.replace(specs.DATASETS["top_qcd"], n_per_class=args.jets, events_per_chunk=200)
    print("| workers | jets | events | wall [s] | jets/s | events/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run = generate.run_chunks(spec, Path(tmp), jobs=jobs, progress=False)
            wall = time.perf_counter() - t0
            arrays = generate.assemble(spec, run["chunks"])
            events = sum(run["stats"]["events_per_class"].values())
            n = len(arrays["labels"])
            print(f"| {jobs} | {n} | {events} | {wall:.1f} | {n / wall:.1f} | {events / wall:.1f} |")
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
