"""The sweep's post-hook on a saved sweep, timed: `python -m rayjob.export SWEEP` in a fresh process.

    python benchmarks/post_hook.py SWEEP_FOLDER [--runs N]

Each run works on a fresh copy of the sweep folder less its outputs (export/, the report, its figures), so
the latency cache is empty as after a sweep, and times the whole command: process start, imports, the
held-out evaluation, per-trial plots, the ONNX export and checks, the report. Prints every run and the
mean with its standard error. To compare two versions of rayjob, run this script under each (e.g. with
PYTHONPATH pointing at a checkout of the other), alternating.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTPUTS = ("export", "export_fastest", "report.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a local sweep folder (it holds trials.jsonl)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (args.sweep / "trials.jsonl").is_file():
        print(f"error: {args.sweep} holds no trials.jsonl: give a finished sweep's folder", file=sys.stderr)
        return 2
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="post-hook-") as tmp:
            copy = Path(tmp) / args.sweep.name
            shutil.copytree(args.sweep, copy, ignore=shutil.ignore_patterns(*OUTPUTS, "*.png"))
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "rayjob.export", str(copy)], capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
                return 1
        print(f"run {run + 1}: {times[-1]:.1f} s", flush=True)
    se = statistics.stdev(times) / len(times) ** 0.5 if len(times) > 1 else float("nan")
    print(f"post-hook (python -m rayjob.export, whole command): mean {statistics.mean(times):.1f} s, SE {se:.1f}, "
          f"n = {len(times)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
