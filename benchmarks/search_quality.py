"""What the sweep's search finds per unit of compute, against the base config, random search and an oracle.

    python benchmarks/search_quality.py [--seeds 3]      # real sweeps on the quickstart data (22-40 min)
    python benchmarks/search_quality.py --replay 20      # the same comparison replayed on the oracle's
                                                         # recorded curves (seconds; any number of seeds)
    python benchmarks/search_quality.py --replay 20 search.reduction_factor=3   # compare a setting

Methods, each on the quickstart config and space with no hand-fed points:
- rayjob: the default searcher + scheduler (`python -m rayjob.tune`), one sweep per seed;
- random+FIFO: random search, every trial run to the end, given the same epoch budget rayjob used
  (floor(epochs used / max_epochs) trials), same seed;
- base: the config's own values alone (`python -m rayjob.train`; deterministic, run once);
- oracle: the best point of the discretised space in benchmarks/oracle_quickstart.json (oracle.py).
Prints, per method: median / min / max best val top-1, epochs used, wall time, regret to the oracle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from oracle import CONFIG, GRID, load_oracle, oracle_value
from timing import timed_run

from rayjob.config import load_config
from rayjob.sweep.results import best_trial, read_records


@dataclass
class Method:
    name: str
    best: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def add(self, best: float, epochs: int, wall: float | None = None) -> None:
        self.best.append(best)
        self.epochs.append(epochs)
        if wall is not None:
            self.wall.append(wall)


def real_sweep(overrides: list[str]) -> tuple[float, int, float]:
    """(best val/acc_top1, epochs trained, wall seconds) of one `python -m rayjob.tune` run."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG), f"run.storage_path={tmp}"]
        finished = timed_run([*command, "run.name=bench", *overrides])
        if finished is None:
            raise SystemExit("a sweep failed")
        records = read_records(str(Path(tmp) / "bench")) or []
    best = best_trial(records, "max")
    return (best.best if best else 0.0), sum(r.epochs for r in records), finished[1]


def base_alone() -> tuple[float, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.train", "--config", str(CONFIG), f"run.storage_path={tmp}"]
        finished = timed_run([*command, "trainer.progress_bar=false", "trainer.plots=false"])
    if finished is None:
        raise SystemExit("the base run failed")
    value = float(finished[0].stdout.strip().splitlines()[-1].split()[1])
    return value, load_config(CONFIG).trainer.max_epochs, finished[1]


def measure(seeds: int, overrides: list[str]) -> list[Method]:
    max_epochs = load_config(CONFIG).trainer.max_epochs
    rayjob, random_fifo, base = Method("rayjob (tpe + asha)"), Method("random + fifo"), Method("base config")
    for seed in range(seeds):
        rayjob.add(*real_sweep([*overrides, f"search.seed={seed}"]))
        trials = max(1, rayjob.epochs[-1] // max_epochs)
        random_args = ["search.algorithm=random", "search.scheduler=fifo", "search.include_base=false"]
        random_fifo.add(*real_sweep([*random_args, f"search.num_samples={trials}", f"search.seed={seed}"]))
        print(f"seed {seed}: rayjob {rayjob.best[-1]:.4f} in {rayjob.epochs[-1]} epochs, {rayjob.wall[-1]:.0f} s; "
              f"random+fifo {random_fifo.best[-1]:.4f} in {random_fifo.epochs[-1]} epochs", flush=True)  # fmt: skip
    base.add(*base_alone())
    return [rayjob, random_fifo, base]


def replayed(seeds: int, overrides: list[str]) -> list[Method]:
    """The same comparison with trials replayed from the oracle's curves (no training)."""
    import ray

    from rayjob.sweep.replay import curve_table, replay_config, replay_sweep

    oracle = load_oracle()
    curves = curve_table(oracle["configs"])
    cfg = replay_config(load_config(CONFIG, overrides), GRID, oracle["fixed"])
    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False)
    rayjob, random_fifo = Method("rayjob (tpe + asha), replayed"), Method("random + fifo, replayed")
    for seed in range(seeds):
        trials = replay_sweep(cfg, curves, seed)
        rayjob.add(max(t.best for t in trials), sum(t.epochs for t in trials))
        budget = max(1, rayjob.epochs[-1] // cfg.trainer.max_epochs)
        random_cfg = cfg.with_values({"search.algorithm": "random", "search.scheduler": "fifo",
                                      "search.include_base": False, "search.num_samples": budget})  # fmt: skip
        trials = replay_sweep(random_cfg, curves, seed)
        random_fifo.add(max(t.best for t in trials), sum(t.epochs for t in trials))
    ray.shutdown()
    return [rayjob, random_fifo]


def print_table(methods: list[Method], oracle: float, possible: int) -> None:
    print(f"\noracle (best of {len(load_oracle()['configs'])} grid points, each trained to the end): {oracle:.4f}")
    print(f"{'method':32s} {'median':>7s} {'min':>7s} {'max':>7s} {'epochs':>13s} {'wall s':>7s} {'regret pp':>9s}")
    for m in methods:
        median = statistics.median(m.best)
        epochs = f"{statistics.median(m.epochs):.0f}/{possible}"
        wall = f"{statistics.median(m.wall):.0f}" if m.wall else "-"
        print(f"{m.name:32s} {median:7.4f} {min(m.best):7.4f} {max(m.best):7.4f} {epochs:>13s} {wall:>7s} "
              f"{(oracle - median) * 100:9.2f}")  # fmt: skip
    print(f"(epochs: median used / num_samples x max_epochs; {len(methods[0].best)} seeds)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="real sweeps per method (default 3)")
    parser.add_argument("--replay", type=int, default=0, metavar="N", help="replay N seeds on the oracle's curves")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings for rayjob's sweep, e.g. search.reduction_factor=3")  # fmt: skip
    args = parser.parse_args()
    cfg = load_config(CONFIG, args.overrides)
    possible = cfg.search.num_samples * cfg.trainer.max_epochs
    oracle = oracle_value(load_oracle())
    methods = replayed(args.replay, args.overrides) if args.replay else measure(args.seeds, args.overrides)
    print_table(methods, oracle, possible)
    return 0


if __name__ == "__main__":
    sys.exit(main())
