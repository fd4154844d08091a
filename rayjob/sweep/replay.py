"""Replay recorded learning curves through the real searcher and scheduler: a simulator backend.

A trial does not train: it looks its sampled values up in a table of recorded curves and reports the
recorded metric epoch by epoch, so a whole sweep of the real ``Tuner`` + ``OptunaSearch`` + ASHA runs in
seconds. ``tests/test_search_replay.py`` uses it to check the search machinery deterministically, and
``benchmarks/search_quality.py --replay`` to compare search settings on the oracle's curves. (Syne
Tune's simulator backend works this way.)
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayjob.config import Config

Curves = dict[str, list[float]]


def curve_key(values: dict[str, Any]) -> str:
    """The table key of one point: its values by sorted dotted key."""
    return json.dumps(sorted(values.items()))


def curve_table(configs: list[dict[str, Any]]) -> Curves:
    """``[{"params": {...}, "curve": [...]}, ...]`` (the oracle file's ``configs``) as a lookup table."""
    return {curve_key(c["params"]): list(c["curve"]) for c in configs}


def replay_config(cfg: Config, grid: dict[str, list[Any]], fixed: dict[str, Any]) -> Config:
    """``cfg`` searching exactly the recorded grid (every key a ``choice``), so every sample has a curve,
    with the ``fixed`` values the curves were recorded with (the LR warmup decides the first rung)."""
    return cfg.with_values({**fixed, "search.space": {key: {"choice": values} for key, values in grid.items()}})


def replay_trial(sample: dict[str, Any], curves: Curves, metric: str) -> None:
    """The Tune trainable: report the recorded curve of ``sample``, one epoch per report.

    Each report carries a checkpoint holding the epoch, so a trial the scheduler pauses at a rung resumes
    where it stopped, as a training trial does."""
    import ray.tune

    started = time.time()
    done = 0
    if (checkpoint := ray.tune.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder:
            done, started = json.loads((Path(folder) / "replay.json").read_text())
    curve = curves[curve_key(sample)]
    for epoch in range(done + 1, len(curve) + 1):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "replay.json").write_text(json.dumps([epoch, started]))
            result = {metric: curve[epoch - 1], "epoch": epoch, "started_at": started}
            ray.tune.report(result, checkpoint=ray.tune.Checkpoint.from_directory(folder))


@dataclass
class ReplayedTrial:
    params: dict[str, Any]
    epochs: int  # epochs the scheduler let it run
    best: float  # the best value it reported
    full_best: float  # the best value it would have reported, run to the end (from the table)


def replay_sweep(cfg: Config, curves: Curves, seed: int) -> list[ReplayedTrial]:
    """Run ``cfg``'s searcher and scheduler over ``curves``, one trial at a time; trials in start order."""
    import numpy as np
    from ray import tune

    from rayjob.sweep.tuner import build_tune_config, silence_tune_output

    silence_tune_output()
    np.random.seed(seed)  # ASHA draws each trial's bracket from numpy's global generator
    cfg = cfg.with_values({"search.seed": seed})
    with tempfile.TemporaryDirectory(prefix="rayjob-replay-") as tmp:
        tuner = tune.Tuner(
            tune.with_parameters(replay_trial, curves=curves, metric=cfg.search.metric),
            tune_config=build_tune_config(cfg, concurrency=1, study_file=None),
            run_config=tune.RunConfig(name="replay", storage_path=tmp, verbose=0),
        )
        results = [r for r in tuner.fit() if r.metrics_dataframe is not None]
    trials = []
    for result in sorted(results, key=lambda r: r.metrics_dataframe["started_at"].iloc[0]):
        params = {key: result.config[key] for key in cfg.search.space}
        reported = result.metrics_dataframe[cfg.search.metric].tolist()
        pick = max if cfg.search.mode == "max" else min
        full = curves[curve_key(params)]
        trials.append(ReplayedTrial(params, len(reported), pick(reported), pick(full)))
    return trials
