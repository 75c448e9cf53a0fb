"""Execute every notebook in a fresh kernel; print wall time and the kernel's peak RSS.

    python benchmarks/notebooks.py              # table for all notebooks
    python benchmarks/notebooks.py 00_tour      # only notebooks whose name contains the text
    python benchmarks/notebooks.py --write      # also save the executed notebooks (make notebooks)

Budgets (docs/DESIGN.md §4): <= 90 s and <= 1.5 GB peak RSS per notebook on 2 CPU cores. Peak RSS is the
kernel process's own maximum resident set (getrusage of the reaped child), so nothing is missed
between samples. The exit code is 1 if any notebook fails or breaks a budget.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUDGET_S, BUDGET_MB = 90.0, 1536.0


def run_one(path: Path, write: bool) -> dict:
    """Run in a child process: execute the notebook and report time and the kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - t0
    if write:
        nbformat.write(nb, path)
    # ru_maxrss of reaped children (the kernel) in KiB on Linux
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"notebook": path.name, "wall_s": round(wall, 1), "peak_rss_mb": round(peak_mb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="")
    parser.add_argument("--write", action="store_true", help="save executed notebooks in place")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.write)))
        return 0
    rows, failed = [], False
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if args.filter not in path.name:
            continue
        cmd = [sys.executable, __file__, "--one", str(path)] + (["--write"] if args.write else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{path.name}: FAILED\n{proc.stderr[-3000:]}", file=sys.stderr)
            failed = True
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["ok"] = row["wall_s"] <= BUDGET_S and row["peak_rss_mb"] <= BUDGET_MB
        failed |= not row["ok"]
        rows.append(row)
    print(f"| notebook | wall time [s] | peak RSS [MB] | within budget ({BUDGET_S:.0f} s, {BUDGET_MB:.0f} MB) |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['notebook']} | {r['wall_s']} | {r['peak_rss_mb']} | {'yes' if r['ok'] else 'NO'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
