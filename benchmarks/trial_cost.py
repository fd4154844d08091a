"""What a sweep trial costs beyond its epochs: in-process trials against Ray Train trials.

    python benchmarks/trial_cost.py [--gpu] [--trials N] [--only in-process|ray-train] [KEY=VALUE ...]

Runs a short quickstart sweep twice in fresh processes, with ``scaling.num_workers=0`` (in-process) and
``scaling.num_workers=1`` (one Ray Train worker per trial), and reads each trial's own timestamps:
- ``timing.jsonl``: when each run of the trial function began and ended (a paused trial that resumes runs
  again), i.e. while it held its slot (its reserved CPUs/GPUs); time paused on a rung is not in it;
- ``time/epoch_s`` in each epoch's report: that epoch's training and validation.

fixed cost of a trial = its runs' time - its epochs' time (start-up, checkpoints, teardown, resumes). A slot's
first trial also pays the process start and imports, so the figure is over the second and later trials of
each slot (those that began after a trial had trained an epoch). A run whose end was not seen (Tune kills a
stopped Ray Train trial's process) leaves its teardown to the start of the slot's next trial, where it counts.
busy = the epochs' time over (wall time x slots): the share of the slots that trained. With ``--gpu`` it also
samples ``nvidia-smi`` once a second (GPU utilization).

The last line: ``trial cost: in-process F1 s + E1 s/epoch; ray-train F2 s + E2 s/epoch (device)``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from timing import ROOT, timed_run  # benchmarks/ is on sys.path when a script here runs

CONFIG = ROOT / "configs" / "quickstart.yaml"
# Short epochs: the fixed cost is what is measured, and it does not depend on the epoch's length.
CPU = ["trainer.limit_train_batches=0.25"]
# The GPU sweep of ../shared/GPU_NOTES.md: 4 trials share the GPU.
GPU = [
    "trainer.accelerator=gpu", "scaling.gpus_per_worker=0.25", "scaling.cpus_per_worker=3",
    "model.backbone=resnet18", "data.image_size=64", "data.batch_size=128",
]  # fmt: skip
MODES = {"in-process": 0, "ray-train": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="train on the GPU (4 trials share it)")
    parser.add_argument("--trials", type=int, default=8, help="trials per sweep (default 8)")
    parser.add_argument("--only", choices=sorted(MODES), help="measure one kind of trial")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more config overrides")
    args = parser.parse_args()
    if args.gpu and not _has_cuda():
        print("trial_cost.py --gpu: no CUDA device on this machine", flush=True)
        return 2
    figures = {}
    for mode, workers in MODES.items():
        if args.only and mode != args.only:
            continue
        overrides = [*(GPU if args.gpu else CPU), f"search.num_samples={args.trials}",
                     f"scaling.num_workers={workers}", *args.overrides]  # fmt: skip
        measured = measure(mode, overrides, args.gpu)
        if measured is None:
            return 1
        figures[mode] = measured
    device = "gpu" if args.gpu else "cpu"
    parts = [f"{mode} {fixed:.1f} s + {epoch:.2f} s/epoch" for mode, (fixed, epoch) in figures.items()]
    print(f"trial cost: {'; '.join(parts)} ({device})", flush=True)
    return 0


def measure(mode: str, overrides: list[str], gpu: bool) -> tuple[float, float] | None:
    """Run one sweep; print its figures; return (fixed cost of warm trials, median epoch seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG), f"run.storage_path={tmp}", *overrides]
        sampler = GpuSampler() if gpu else None
        finished = timed_run(command)
        utilization = sampler.stop() if sampler else None
        if finished is None:
            return None
        trials = [t for t in map(_trial, sorted((Path(tmp) / "quickstart").glob("trial-*"))) if t["runs"]]
    runs = [run for t in trials for run in t["runs"]]
    first_end = min(run["epochs"][0][1] for run in runs if run["epochs"])
    warm = [t for t in trials if t["runs"][0]["start"] >= first_end]  # began after another trial trained
    fixed = [t["fixed"] for t in warm]
    cold = [t["fixed"] for t in trials if t not in warm]
    epoch_times = [end - start for run in runs for start, end in run["epochs"]]
    began = min(run["start"] for run in runs)
    wall = max(run.get("end", run["epochs"][-1][1] if run["epochs"] else run["start"]) for run in runs) - began
    slots = _slots(runs)
    busy = sum(epoch_times) / (wall * slots)
    ended = sum("end" in run for run in runs)
    print(f"{mode}: {len(trials)} trials, {len(epoch_times)} epochs, {len(runs)} runs ({ended} saw their own end), "
          f"{slots} slots, {wall:.0f} s from the first run's start to the last one's end", flush=True)  # fmt: skip
    print(f"  epoch (train + val): median {statistics.median(epoch_times):.2f} s", flush=True)
    print(f"  fixed cost, a slot's first trial: {_mean_se(cold)} (n = {len(cold)}; process start, imports)", flush=True)
    print(f"  fixed cost, later trials: {_mean_se(fixed)} (n = {len(fixed)})", flush=True)
    print(f"  slots busy training: {busy:.0%} of {slots} x {wall:.0f} s", flush=True)
    if utilization:
        print(f"  GPU utilization: mean {statistics.mean(utilization):.0f}%, {len(utilization)} samples; "
              f"idle (0%) in {sum(u == 0 for u in utilization)}", flush=True)  # fmt: skip
    return (statistics.mean(fixed) if fixed else float("nan")), statistics.median(epoch_times)


def _trial(folder: Path) -> dict:
    """A trial's runs, each with its epochs as (start, end) unix times, and its fixed cost: each run's start to
    its first epoch, the gaps between epochs (checkpoint, report), and its last epoch to its end. A run Tune
    ended by killing its process (a stopped Ray Train trial) saw no end: its teardown delays the start of the
    slot's next trial, where it is counted."""
    timing = folder / "timing.jsonl"
    lines = [json.loads(line) for line in timing.read_text().splitlines()] if timing.is_file() else []
    runs = {}  # one per start: a run writes its start, and its end when it sees it
    for line in lines:
        runs[(line["pid"], line["start"])] = {**runs.get((line["pid"], line["start"]), {}), **line}
    results = folder / "result.json"
    reports = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    epochs = sorted((r["time/epoch_end"] - r["time/epoch_s"], r["time/epoch_end"]) for r in reports)
    ordered = sorted(runs.values(), key=lambda r: r["start"])
    fixed = 0.0
    for i, run in enumerate(ordered):
        until = ordered[i + 1]["start"] if i + 1 < len(ordered) else float("inf")
        run["epochs"] = [e for e in epochs if run["start"] <= e[0] < until]
        marks = [run["start"], *(t for e in run["epochs"] for t in e)]
        if "end" in run:
            marks.append(run["end"])
        fixed += sum(marks[j + 1] - marks[j] for j in range(0, len(marks) - 1, 2))  # the gaps between epochs
    return {"runs": ordered, "fixed": fixed}


def _slots(runs: list[dict]) -> int:
    """The most runs that were under way at once."""
    events = []
    for run in runs:
        end = run.get("end", run["epochs"][-1][1] if run["epochs"] else run["start"])
        events += [(run["start"], 1), (end, -1)]
    now = most = 0
    for _, step in sorted(events):
        now += step
        most = max(most, now)
    return most


def _mean_se(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return f"{statistics.mean(values):.1f} s (SE {statistics.stdev(values) / len(values) ** 0.5:.1f})"


class GpuSampler:
    """``nvidia-smi``'s GPU utilization once a second, in a thread, until ``stop``."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._done.wait(1.0):
            out = subprocess.run(query, capture_output=True, text=True, check=False).stdout.split()
            if out:
                self.samples.append(float(out[0]))

    def stop(self) -> list[float]:
        self._done.set()
        self._thread.join()
        return self.samples


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    sys.exit(code)
