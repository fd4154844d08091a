"""Replay recorded learning curves through the real searcher and scheduler: a simulator backend.

A trial does not train: it looks its sampled values up in the recorded curves (``benchmarks/curves_*.json``:
every point of the quickstart's space under 2 training seeds, a spread and the base under 4, the best under 12)
and reports val top-1, val loss and the held-out test top-1 epoch by epoch, so a whole sweep of the real
``Tuner`` + ``StudySearcher`` + ``RungScheduler`` runs in seconds. The sweep's pick is made by the same rule
as a real sweep's (``rayjob.results.best_trial``) and judged by its test top-1. (Syne Tune's simulator
backend works this way.)

Run-to-run noise: a real run of a point is one draw of its training noise, and whether a rung stops a good
point can turn on it. Drawing one of a point's 2 recorded runs carries too little of it (each replay would
meet the same 2 runs). So a trial replays its point's mean curve (over its runs under the seeds the replay
draws from, below) plus one run's deviation from its own point's mean, taken from the points recorded under
``NOISE_SEEDS`` or more seeds whose final val top-1 is nearest (noise differs between a point at chance and a
point that learns), scaled to one run's spread. A deviation keeps a run's whole story: a slow start shows at
the rung and in its final val and test alike.
Part of the noise is the training seed's, shared by every point (one seed's initial weights suit all
points better than another's), and a real sweep trains every trial under one ``trainer.seed``: so each
replayed sweep draws one recorded seed (its world) and every trial takes its deviation under that seed.
Which nearby point lends it is a stable hash of the sweep's seed and the point. Files with no many-seed
points draw recorded runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayjob.config import Config
from rayjob.ranking import tiebreak_of
from rayjob.results import TrialRecord, best_trial

TEST_KEY = "replay/test_acc"  # reported for the benchmark's judging; no scheduler or searcher reads it
NOISE_SEEDS = 4  # points recorded under at least this many seeds measure the run-to-run noise
NEAREST_POINTS = 3  # a trial's deviation comes from the runs of this many noise points nearest its level


@dataclass(frozen=True)
class Run:
    """One recorded training run: the signals per epoch."""

    val_acc: list[float]
    val_loss: list[float]
    test_acc: list[float]


@dataclass(frozen=True)
class Curves:
    """A task's recorded runs by point and training seed, and the run-to-run deviations measured on its many-seed
    points."""

    runs: dict[str, dict[int, Run]]  # point key -> training seed -> that run
    # point with NOISE_SEEDS or more runs -> training seed -> that run minus the point's mean, at one run's spread
    noise: dict[str, dict[int, Run]] = field(default_factory=dict)

    means: dict[str, Run] = field(init=False)  # each point's mean run over its runs under the worlds
    # The training seeds every many-seed point was recorded under: what one replayed sweep draws from.
    worlds: list[int] = field(init=False)

    def __post_init__(self) -> None:  # computed once: drawn_run reads them for every epoch of every trial
        worlds = _shared_seeds(self.noise)
        footing = worlds or _shared_seeds(self.runs)  # without noise: the seeds every point was recorded under
        means = {key: _mean([r for s, r in by_seed.items() if s in footing] or list(by_seed.values()))
                 for key, by_seed in self.runs.items()}  # fmt: skip
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "worlds", sorted(worlds))

    def mean(self, key: str) -> Run:
        """A point's mean run over its runs under the replay's worlds (without noise: under the seeds every point
        was recorded under; all its runs when it has none there): a run under another seed would only pull this
        point's mean to other draws of the training noise than its neighbours' (``best_in`` reads those runs)."""
        return self.means[key]

    def best_point(self) -> str:
        """The key of the point with the best mean final test top-1 (the space's best, as the replay knows it)."""
        return max(self.runs, key=lambda key: self.means[key].test_acc[-1])

    def best_in(self, worlds: list[int]) -> tuple[str, float] | None:
        """The space's best point for sweeps run under the training seeds ``worlds``, and its mean final test
        top-1 over them: of the points recorded under every one of them, the best by its mean over all the seeds
        those points share (more runs rank more surely, and ranking on the very seeds it is scored on would
        favour a lucky point); None when no point was recorded under them all."""
        held = {key: by_seed for key, by_seed in self.runs.items() if set(worlds) <= set(by_seed)}
        if not held:
            return None
        shared = _shared_seeds(held)

        def mean_over(key: str, seeds: Iterable[int]) -> float:
            values = [held[key][s].test_acc[-1] for s in seeds]
            return sum(values) / len(values)

        best = max(held, key=lambda key: mean_over(key, sorted(shared)))
        return best, mean_over(best, worlds)


def curve_key(values: dict[str, Any]) -> str:
    """The table key of one point: its values by sorted dotted key."""
    return json.dumps(sorted(values.items()))


def curve_table(recorded: dict[str, Any], noise: bool = True) -> Curves:
    """The recorded file's ``configs`` as a lookup table (with ``noise``: its deviations too)."""
    runs = {
        curve_key(c["params"]): {s["seed"]: Run(s["val_acc"], s["val_loss"], s["test_acc"]) for s in c["seeds"]}
        for c in recorded["configs"]
    }
    return Curves(runs, noise_pool(runs) if noise else {})


def noise_pool(runs: dict[str, dict[int, Run]]) -> dict[str, dict[int, Run]]:
    """Each run of each point with ``NOISE_SEEDS`` or more runs, under the seeds all such points share, as its
    deviation from the point's mean over those seeds, scaled by sqrt(n / (n - 1)) so that it spreads as one run
    does about the true mean."""
    many = {key: by_seed for key, by_seed in runs.items() if len(by_seed) >= NOISE_SEEDS}
    worlds = sorted(_shared_seeds(many))
    if len(worlds) < 2:
        return {}
    scale = math.sqrt(len(worlds) / (len(worlds) - 1))
    pool: dict[str, dict[int, Run]] = {}
    for key, by_seed in many.items():
        mean = _mean([by_seed[s] for s in worlds])
        pool[key] = {s: _combine(by_seed[s], mean, lambda a, b: scale * (a - b)) for s in worlds}
    return pool


def drawn_run(curves: Curves, values: dict[str, Any], seed: int) -> Run:
    """The run a trial of ``values`` replays in the sweep of ``seed`` (stable across processes)."""
    key = curve_key(values)
    draw = _hashed(f"{seed}:{key}")
    if not curves.noise:
        runs = [curves.runs[key][s] for s in sorted(curves.runs[key])]
        return runs[draw % len(runs)]
    world = curves.worlds[_hashed(f"world:{seed}") % len(curves.worlds)]  # this sweep's training seed, every trial's
    mean = curves.mean(key)
    level = mean.val_acc[-1]
    nearest = sorted(curves.noise, key=lambda p: (abs(curves.mean(p).val_acc[-1] - level), p))[:NEAREST_POINTS]
    return _clipped(_combine(mean, curves.noise[nearest[draw % len(nearest)]][world], lambda a, b: a + b))


def _shared_seeds(by_point: dict[str, dict[int, Run]]) -> set[int]:
    """The training seeds every point of ``by_point`` was recorded under."""
    seeds = [set(by_seed) for by_seed in by_point.values()]
    return set.intersection(*seeds) if seeds else set()


def _hashed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _mean(runs: list[Run]) -> Run:
    n = len(runs)
    return Run(*([sum(values) / n for values in zip(*(getattr(r, f) for r in runs), strict=True)]
                 for f in ("val_acc", "val_loss", "test_acc")))  # fmt: skip


def _combine(a: Run, b: Run, op: Any) -> Run:
    return Run(*([op(x, y) for x, y in zip(getattr(a, f), getattr(b, f), strict=True)]
                 for f in ("val_acc", "val_loss", "test_acc")))  # fmt: skip


def _clipped(run: Run) -> Run:
    """Accuracies in [0, 1], losses at least 0."""
    return Run([min(1.0, max(0.0, v)) for v in run.val_acc], [max(0.0, v) for v in run.val_loss],
               [min(1.0, max(0.0, v)) for v in run.test_acc])  # fmt: skip


def replay_config(cfg: Config, grid: dict[str, list[Any]]) -> Config:
    """``cfg`` searching exactly the recorded grid (every key a ``choice``), so every sample has curves."""
    return cfg.with_values({"search.space": {key: {"choice": values} for key, values in grid.items()}})


def replay_trial(sample: dict[str, Any], curves: Curves, seed: int, keys: list[str], epoch_seconds: float = 0.0
                 ) -> None:  # fmt: skip
    """The Tune trainable: report the drawn run of ``sample``, one epoch per report (each after
    ``epoch_seconds``, so that trials running side by side interleave as training ones do).

    Each report carries a checkpoint holding the epoch, so a trial the scheduler pauses at a rung resumes
    where it stopped, as a training trial does."""
    import ray.tune

    started = time.time()
    done = 0
    if (checkpoint := ray.tune.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder:
            done, started = json.loads((Path(folder) / "replay.json").read_text())
    run = drawn_run(curves, {k: sample[k] for k in keys}, seed)
    for epoch in range(done + 1, len(run.val_acc) + 1):
        time.sleep(epoch_seconds)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "replay.json").write_text(json.dumps([epoch, started]))
            result = {"val/acc_top1": run.val_acc[epoch - 1], "val/loss": run.val_loss[epoch - 1],
                      TEST_KEY: run.test_acc[epoch - 1], "epoch": epoch, "started_at": started}  # fmt: skip
            ray.tune.report(result, checkpoint=ray.tune.Checkpoint.from_directory(folder))


@dataclass
class ReplayedTrial:
    params: dict[str, Any]
    epochs: int  # epochs the scheduler let it run
    final: float  # the metric at its last epoch
    final_tiebreak: float  # the tie-break signal there
    test: float  # the held-out test top-1 of its last epoch's model
    is_base: bool = False


def replay_sweep(cfg: Config, curves: Curves, seed: int, scheduler: Any = None, concurrency: int = 1
                 ) -> list[ReplayedTrial]:  # fmt: skip
    """Run ``cfg``'s searcher and scheduler (or ``scheduler``) over ``curves``; trials in start order.

    One trial at a time (``concurrency`` 1) replays the same every time. A real sweep runs several side by
    side, and the searcher proposes while earlier trials still run (it knows less): ``concurrency`` > 1
    replays that, each epoch taking 0.05 s so that trials interleave, at the price of timing-dependent order."""
    import numpy as np
    from ray import cloudpickle, tune

    from rayjob.sweep.space import base_trial

    # Trial processes cannot import this file (benchmarks/ is not a package): its trial function travels by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    from rayjob.sweep.tuner import build_scheduler, build_tune_config, silence_tune_output, tune_loggers

    silence_tune_output()
    np.random.seed(seed)  # Ray's stock ASHA draws each trial's bracket from numpy's global generator
    cfg = cfg.with_values({"search.seed": seed})
    keys = list(cfg.search.space)
    base = base_trial(cfg)
    tie = tiebreak_of(cfg.search.metric)[0]
    with tempfile.TemporaryDirectory(prefix="rayjob-replay-") as tmp:
        here = cfg.with_values({"run.storage_path": tmp, "run.name": "replay"})
        tune_config = build_tune_config(here, concurrency, None, scheduler or build_scheduler(here))
        epoch_seconds = 0.0 if concurrency == 1 else 0.05
        tuner = tune.Tuner(
            tune.with_parameters(replay_trial, curves=curves, seed=seed, keys=keys, epoch_seconds=epoch_seconds),
            tune_config=tune_config,
            run_config=tune.RunConfig(name="replay", storage_path=tmp, verbose=0, callbacks=tune_loggers()),
        )
        results = [r for r in tuner.fit() if r.metrics_dataframe is not None]
    trials = []
    for result in sorted(results, key=lambda r: r.metrics_dataframe["started_at"].iloc[0]):
        params = {key: result.config[key] for key in keys}
        last = result.metrics_dataframe.sort_values("epoch").iloc[-1]
        trials.append(ReplayedTrial(params, int(last["epoch"]), float(last[cfg.search.metric]), float(last[tie]),
                                    float(last[TEST_KEY]), params == base))  # fmt: skip
    return trials


def pick(trials: list[ReplayedTrial], cfg: Config) -> ReplayedTrial | None:
    """The trial a real sweep would export: ``best_trial``'s rule on the replayed trials."""
    records = [
        TrialRecord(trial_id=f"{i:05d}", status="COMPLETED" if t.epochs >= cfg.trainer.max_epochs else "STOPPED",
                    params=t.params, best=t.final, best_epoch=t.epochs, epochs=t.epochs, checkpoint="replay",
                    final=t.final, final_tiebreak=t.final_tiebreak, is_base=t.is_base)  # fmt: skip
        for i, t in enumerate(trials)
    ]
    chosen = best_trial(records, cfg.search.metric, cfg.search.mode)
    return None if chosen is None else trials[int(chosen.trial_id)]
