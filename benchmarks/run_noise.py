"""Run-to-run noise of the signals a sweep decides on: how much one more training run of the same point moves them.

    python benchmarks/run_noise.py     # every recorded task (benchmarks/curves_*.json), seconds, no training
    python benchmarks/run_noise.py --min-seeds 12   # the points recorded under 12 seeds (the 8 best), all 12

For each point recorded under 4 or more training seeds (``record_curves.py --spread 16 --seeds 2 3 --add``;
its runs under the seeds all such points share, the worlds the replay draws), the standard deviation over
its runs of val top-1 at each epoch, of val loss and of the final test top-1; printed as the root mean square
over those points (the typical spread of one run), beside the binomial SE
of one val measurement at the same accuracy (what a fixed model's val score alone would spread by). Then the
spread of the difference between two runs at the rung epoch: what a rung comparing two trials of equally
good points sees, and so the size of a difference that says nothing (``search.stop_margin``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
MIN_SEEDS = 4


def rms(values: list[float]) -> float:
    return math.sqrt(statistics.mean(v * v for v in values)) if values else float("nan")


def report(path: Path, rung: int, min_seeds: int = MIN_SEEDS) -> None:
    recorded = json.loads(path.read_text())
    many = [c for c in recorded["configs"] if len(c["seeds"]) >= min_seeds]
    shared = set.intersection(*({s["seed"] for s in c["seeds"]} for c in many)) if many else set()
    points = [{**c, "seeds": [s for s in c["seeds"] if s["seed"] in shared]} for c in many]  # the replay's worlds
    task = recorded["task"].split(" ")[0]
    if not points:
        print(f"{task}: no point recorded under {min_seeds} or more seeds ({path.name})\n")
        return
    val_images = 400  # both camera tasks hold 40 val images a class, 10 classes
    seeds = statistics.median(len(c["seeds"]) for c in points)
    print(f"{task}: {len(points)} points x {seeds:.0f} seeds ({path.name}); sd of one run, RMS over the points")
    print(f"{'epoch':>5s} {'val top-1 sd':>13s} {'binomial SE':>12s} {'val loss sd':>12s} {'mean val':>9s}")
    for epoch in range(1, recorded["max_epochs"] + 1):
        sds, ses, loss_sds, means = [], [], [], []
        for c in points:
            accs = [s["val_acc"][epoch - 1] for s in c["seeds"]]
            sds.append(statistics.stdev(accs))
            p = statistics.mean(accs)
            ses.append(math.sqrt(p * (1 - p) / val_images))
            loss_sds.append(statistics.stdev(s["val_loss"][epoch - 1] for s in c["seeds"]))
            means.append(p)
        print(f"{epoch:5d} {rms(sds):13.4f} {rms(ses):12.4f} {rms(loss_sds):12.4f} {statistics.mean(means):9.3f}")
    tests = [statistics.stdev(s["test_acc"][-1] for s in c["seeds"]) for c in points]
    learned = [c for c in points if statistics.mean(s["val_acc"][-1] for s in c["seeds"]) > 0.5]
    at_rung = [statistics.stdev(s["val_acc"][rung - 1] for s in c["seeds"]) for c in learned]
    print(f"final test top-1 sd: {rms(tests):.4f} (RMS), {max(tests):.4f} (largest)")
    print(f"points that learn (final val > 0.5, {len(learned)}): val top-1 sd at epoch {rung} {rms(at_rung):.4f}; "
          f"two runs of equal points differ by sd {math.sqrt(2) * rms(at_rung):.4f} there")  # fmt: skip
    for name, signal in ((f"val top-1 at epoch {rung}", lambda r: r["val_acc"][rung - 1]),
                         ("final test top-1", lambda r: r["test_acc"][-1])):  # fmt: skip
        shared, own, effect = split_by_seed(learned, signal)
        print(f"  {name}: shared by the training seed (the same for every point) sd {shared:.4f}; "
              f"the point's own sd {own:.4f}")  # fmt: skip
        print(f"    each seed's shared shift, pp: {', '.join(f'{s} {100 * e:+.1f}' for s, e in effect.items())}")
    print()


def split_by_seed(points: list[dict], signal: Any) -> tuple[float, float, dict[int, float]]:
    """The spread of the training seed's effect common to all points, and of what is left of each run (a sweep
    trains every trial under one seed, so only the second part reorders its trials); and each seed's effect."""
    seeds = sorted(set.intersection(*({s["seed"] for s in c["seeds"]} for c in points)))
    deviation = {}
    for index, c in enumerate(points):
        runs = {s["seed"]: signal(s) for s in c["seeds"] if s["seed"] in seeds}
        mean = statistics.mean(runs.values())
        for seed, value in runs.items():
            deviation[(index, seed)] = value - mean
    effect = {seed: statistics.mean(v for (_, s), v in deviation.items() if s == seed) for seed in seeds}
    own = [v - effect[s] for (_, s), v in deviation.items()]
    n = len(seeds)
    spread = math.sqrt(statistics.mean(e * e for e in effect.values()) * n / (n - 1))
    return spread, rms(own) * math.sqrt(n / (n - 1)), effect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rung", type=int, default=3, help="the rung epoch to size the margin at (default 3)")
    parser.add_argument("--min-seeds", type=int, default=MIN_SEEDS,
                        help=f"the points recorded under at least this many seeds (default {MIN_SEEDS})")  # fmt: skip
    args = parser.parse_args()
    for path in sorted(BENCHMARKS.glob("curves_*.json")):
        report(path, args.rung, args.min_seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
