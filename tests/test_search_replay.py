"""The search machinery on recorded learning curves: the real Tuner + OptunaSearch + ASHA, no training.

The curves are the oracle's (benchmarks/oracle_quickstart.json: every point of a discretised quickstart
space trained to the end). Trials replay them epoch by epoch (rayjob.sweep.replay), one at a time with
fixed seeds, so every run is the same and takes seconds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from rayjob.config import Config, load_config
from rayjob.sweep.replay import curve_key, curve_table, replay_config, replay_sweep
from rayjob.sweep.space import base_point

ROOT = Path(__file__).resolve().parent.parent
ORACLE = json.loads((ROOT / "benchmarks" / "oracle_quickstart.json").read_text())
CURVES = curve_table(ORACLE["configs"])
CHANCE = 0.1  # ten digit classes


def quickstart(**values: object) -> Config:
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    return replay_config(cfg, ORACLE["grid"], ORACLE["fixed"]).with_values(values)


def test_tpe_concentrates_on_the_good_region(local_ray: None) -> None:
    """After its random start, TPE proposes better points than random search does, seed for seed."""
    tpe_cfg = quickstart(**{"search.num_samples": 16, "search.scheduler": "fifo", "search.include_base": False})
    random_cfg = tpe_cfg.with_values({"search.algorithm": "random"})
    startup = 5  # ceil(0.3 x 16)
    tpe, rand = [], []
    for seed in range(3):
        tpe += [t.full_best for t in replay_sweep(tpe_cfg, CURVES, seed)[startup:]]
        rand += [t.full_best for t in replay_sweep(random_cfg, CURVES, seed)[startup:]]
    grid_median = statistics.median(max(c["curve"]) for c in ORACLE["configs"])
    assert statistics.mean(tpe) > statistics.mean(rand)
    assert sum(v > grid_median for v in tpe) > sum(v > grid_median for v in rand)


def slow_starter() -> tuple[dict, dict]:
    """The best point of the grid, made to sit at chance through its warmup epoch (as slow starters do)."""
    best = max(ORACLE["configs"], key=lambda c: max(c["curve"]))
    curves = dict(CURVES)
    curves[curve_key(best["params"])] = [CHANCE, *best["curve"][1:]]
    return best["params"], curves


def test_the_first_rung_after_the_warmup_keeps_a_slow_starter_that_ends_best(local_ray: None) -> None:
    params, curves = slow_starter()
    cfg = quickstart(**{"search.num_samples": 4, "search.points_to_evaluate": [params]})
    trials = replay_sweep(cfg, curves, seed=0)
    slow = next(t for t in trials if t.params == params)
    assert slow.epochs == cfg.trainer.max_epochs  # judged at epoch 2, after its warmup: it went on
    assert slow.best == max(t.best for t in trials)  # and ended as the sweep's best

    # The same sweep with the rung inside the warmup (epoch 1 of a 1-epoch warmup) stops it at chance.
    naive = cfg.with_values({"optim.warmup_epochs": 0.0})  # grace auto -> epoch 1
    stopped = next(t for t in replay_sweep(naive, curves, seed=0) if t.params == params)
    assert stopped.epochs == 1 and stopped.best == CHANCE


def test_the_base_trial_runs_to_the_end_and_the_sweep_never_ends_below_it(local_ray: None) -> None:
    cfg = quickstart()
    for seed in range(3):
        trials = replay_sweep(cfg, CURVES, seed)
        first = trials[0]
        assert first.params == base_point(cfg)
        assert first.epochs == cfg.trainer.max_epochs  # the scheduler never stops the base config
        assert max(t.best for t in trials) >= first.full_best
