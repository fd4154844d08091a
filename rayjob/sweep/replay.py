"""Replay recorded learning curves through the real searcher and scheduler: a simulator backend.

A trial does not train: it looks its sampled values up in the recorded curves
(``benchmarks/curves_quickstart.json``: every point of the quickstart's space, 2 training seeds each) and
reports val top-1, val loss and the held-out test top-1 epoch by epoch, so a whole sweep of the real
``Tuner`` + ``StudySearcher`` + ``RungScheduler`` runs in seconds. Each trial draws one of the recorded
seeds (a stable hash of the sweep's seed and the point), so the training noise is in the replay: a method
that only wins on one seed's luck does not win every replay. The sweep's pick is made by the same rule
as a real sweep's (``rayjob.sweep.results.best_trial``) and judged by its recorded test top-1.
(Syne Tune's simulator backend works this way.)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayjob.config import Config
from rayjob.ranking import tiebreak_of
from rayjob.sweep.results import TrialRecord, best_trial

TEST_KEY = "replay/test_acc"  # reported for the benchmark's judging; no scheduler or searcher reads it


@dataclass(frozen=True)
class Run:
    """One recorded training run: the signals per epoch."""

    val_acc: list[float]
    val_loss: list[float]
    test_acc: list[float]


Curves = dict[str, list[Run]]  # point key -> its runs, one per recorded seed


def curve_key(values: dict[str, Any]) -> str:
    """The table key of one point: its values by sorted dotted key."""
    return json.dumps(sorted(values.items()))


def curve_table(recorded: dict[str, Any]) -> Curves:
    """The recorded file's ``configs`` as a lookup table."""
    return {
        curve_key(c["params"]): [Run(s["val_acc"], s["val_loss"], s["test_acc"]) for s in c["seeds"]]
        for c in recorded["configs"]
    }


def drawn_run(curves: Curves, values: dict[str, Any], seed: int) -> Run:
    """The recorded run a trial of ``values`` replays in the sweep of ``seed`` (stable across processes)."""
    runs = curves[curve_key(values)]
    digest = hashlib.sha256(f"{seed}:{curve_key(values)}".encode()).digest()
    return runs[digest[0] % len(runs)]


def replay_config(cfg: Config, grid: dict[str, list[Any]]) -> Config:
    """``cfg`` searching exactly the recorded grid (every key a ``choice``), so every sample has curves."""
    return cfg.with_values({"search.space": {key: {"choice": values} for key, values in grid.items()}})


def replay_trial(sample: dict[str, Any], curves: Curves, seed: int, keys: list[str]) -> None:
    """The Tune trainable: report the drawn run of ``sample``, one epoch per report.

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


def replay_sweep(cfg: Config, curves: Curves, seed: int, scheduler: Any = None) -> list[ReplayedTrial]:
    """Run ``cfg``'s searcher and scheduler (or ``scheduler``) over ``curves``, one trial at a time; trials
    in start order."""
    import numpy as np
    from ray import tune

    from rayjob.sweep.space import base_point
    from rayjob.sweep.tuner import build_tune_config, silence_tune_output, tune_loggers

    silence_tune_output()
    np.random.seed(seed)  # Ray's stock ASHA draws each trial's bracket from numpy's global generator
    cfg = cfg.with_values({"search.seed": seed})
    keys = list(cfg.search.space)
    base = base_point(cfg) if cfg.search.include_base else None
    tie = tiebreak_of(cfg.search.metric)[0]
    with tempfile.TemporaryDirectory(prefix="rayjob-replay-") as tmp:
        here = cfg.with_values({"run.storage_path": tmp, "run.name": "replay"})
        tune_config = build_tune_config(here, 1, None, scheduler)
        tuner = tune.Tuner(
            tune.with_parameters(replay_trial, curves=curves, seed=seed, keys=keys),
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
