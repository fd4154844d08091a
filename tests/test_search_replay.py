"""The search machinery on recorded learning curves: the real Tuner + OptunaSearch + RungScheduler, no training.

The curves are benchmarks/curves_quickstart.json: every point of the quickstart's space trained to the end under
2 seeds (the base and a spread of 16 under 4, the 8 best under 12), with val top-1, val loss and test top-1 per
epoch (benchmarks/record_curves.py).
Trials replay them epoch by epoch (benchmarks/replay.py, benchmark code these tests keep honest), one at a time
with fixed seeds, so every run is the same and takes seconds.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from rayjob.config import Config, load_config
from rayjob.sweep.space import base_point

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the replay is benchmark code; these tests keep it honest

import replay  # noqa: E402
from replay import NOISE_SEEDS, Curves, Run, curve_key, curve_table, drawn_run  # noqa: E402

RECORDED = json.loads((ROOT / "benchmarks" / "curves_quickstart.json").read_text())
CURVES = curve_table(RECORDED)
CHANCE = 0.1  # ten digit classes


def quickstart(**values: object) -> Config:
    return replay.replay_config(load_config(ROOT / "configs" / "quickstart.yaml"), RECORDED["grid"]).with_values(values)


def test_the_recording_covers_the_quickstart_space_and_measures_noise_on_a_spread_of_points() -> None:
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    assert RECORDED["grid"] == {k: v["choice"] for k, v in cfg.search.space.items()}
    assert len(RECORDED["configs"]) >= 64 and all(len(c["seeds"]) >= 2 for c in RECORDED["configs"])
    noisy = [c for c in RECORDED["configs"] if len(c["seeds"]) >= NOISE_SEEDS]
    finals = sorted(statistics.mean(s["test_acc"][-1] for s in c["seeds"]) for c in noisy)
    assert len(noisy) >= 12 and finals[0] < 0.3 and finals[-1] > 0.85  # the bad and the good alike
    for c in RECORDED["configs"]:
        for s in c["seeds"]:
            assert len(s["val_acc"]) == len(s["val_loss"]) == len(s["test_acc"]) == cfg.trainer.max_epochs


def test_without_measured_noise_each_sweep_seed_draws_one_recorded_run() -> None:
    base = base_point(quickstart())
    recorded_only = curve_table(RECORDED, noise=False)
    drawn = [drawn_run(recorded_only, base, seed) for seed in range(12)]
    assert drawn == [drawn_run(recorded_only, base, seed) for seed in range(12)]  # stable
    recorded = recorded_only.runs[curve_key(base)].values()
    assert {tuple(r.test_acc) for r in drawn} == {tuple(r.test_acc) for r in recorded}


def test_with_measured_noise_a_point_replays_as_a_new_run_that_spreads_as_real_runs_do() -> None:
    """Each sweep seed meets another run of the base config: centred on its recorded mean, and spread as the
    runs of the many-seed points near its level spread (the replay's noise is the measured one, no less)."""
    base = curve_key(base_point(quickstart()))
    drawn = [drawn_run(CURVES, base_point(quickstart()), seed) for seed in range(200)]
    assert drawn[:12] == [drawn_run(CURVES, base_point(quickstart()), seed) for seed in range(12)]  # stable
    finals = [r.test_acc[-1] for r in drawn]
    assert len(set(finals)) >= 8
    assert abs(statistics.mean(finals) - CURVES.mean(base).test_acc[-1]) < 0.01
    measured = [statistics.stdev(s["test_acc"][-1] for s in c["seeds"])
                for c in RECORDED["configs"] if len(c["seeds"]) >= NOISE_SEEDS]  # fmt: skip
    assert min(measured) / 2 <= statistics.stdev(finals) <= 2 * max(measured)
    assert all(0.0 <= v <= 1.0 for r in drawn for v in r.val_acc + r.test_acc)


def test_runs_under_seeds_the_replay_does_not_draw_only_tell_what_the_space_holds_across_seeds() -> None:
    """A replayed sweep draws one of the seeds every many-seed point shares: a point's runs under other seeds
    (the best points, recorded under more) must neither move its replayed mean nor lend noise, but they do tell
    what the point scores on average over those seeds (what a real sweep's regret is read against)."""

    def run(final: float) -> Run:
        return Run([final] * 3, [1.0 - final] * 3, [final] * 3)

    two = {0: run(0.80), 1: run(0.80)}
    many = {0: run(0.82), 1: run(0.82), 2: run(0.70), 3: run(0.70), 4: run(0.50), 5: run(0.50)}
    steady = {seed: run(0.75) for seed in range(6)}
    noisy = {0: run(0.50), 1: run(0.54), 2: run(0.40), 3: run(0.44)}
    runs = {"two": two, "many": many, "steady": steady, "noisy": noisy}
    curves = Curves(runs, replay.noise_pool(runs))
    assert curves.worlds == [0, 1, 2, 3] and set(curves.noise["many"]) == {0, 1, 2, 3}
    assert abs(curves.mean("many").test_acc[-1] - 0.76) < 1e-9  # seeds 4 and 5 left out
    assert curves.mean("two").test_acc[-1] == 0.80
    assert Curves(runs).mean("many").test_acc[-1] == 0.82  # no noise: the seeds every point shares, 0 and 1
    assert curves.best_in([0, 1]) == ("many", 0.82)  # every point holds seeds 0 and 1: judged on those
    # of the points that hold seeds 4 and 5, "many" leads on seeds 0 and 1 but "steady" over the 6 they share
    assert curves.best_in([4, 5]) == ("steady", 0.75)
    assert curves.best_in([0, 1, 2, 3, 4, 5]) == ("steady", 0.75)
    assert curves.best_in([0, 1, 2, 3, 4, 5, 6]) is None


def test_a_real_sweeps_regret_is_also_read_against_the_best_points_run_under_the_sweeps_own_seed(capsys) -> None:
    """One training seed lifts or sinks every point's run together, and each real sweep trains under its own
    seed: read against the best point's mean, a pick's run carries that luck; read against the best point's run
    under the same seed, only what the search chose."""
    from search_quality import RealSweep, _print_real_regret

    def run(final: float) -> Run:
        return Run([final] * 3, [1.0 - final] * 3, [final] * 3)

    best, other = curve_key({"optim.lr": 0.001}), curve_key({"optim.lr": 0.002})
    runs = {best: {0: run(0.90), 1: run(0.70), 2: run(0.70)}, other: {0: run(0.89), 1: run(0.69), 2: run(0.69)}}
    sweeps = [RealSweep(seed, {"pick": {"top1": runs[other][seed].test_acc[-1]}}, {"optim.lr": 0.002}, 1.0, 6)
              for seed in range(3)]  # fmt: skip
    _print_real_regret(Curves(runs), sweeps, images=1000, real_runs_of=lambda point: {})
    lines = capsys.readouterr().out.splitlines()
    of_run = next(line for line in lines if line.startswith("real: regret of each pick's run:"))
    same_seed = next(line for line in lines if "against the best point's recorded run under its seed" in line)
    of_point = next(line for line in lines if line.startswith("real: regret of the picked points recorded"))
    assert "-12.33, +7.67, +7.67 pp; median of 3 7.67 pp" in of_run  # the best point's mean is 0.7667
    assert "+1.00, +1.00, +1.00 pp; median of 3 1.00 pp (bootstrap SE 0.00)" in same_seed
    assert "median of 3 1.00 pp" in of_point
    # the best point's real one-trial runs under the sweeps' seeds, once kept, replace its recorded ones
    real = {0: 0.91, 1: 0.71, 2: 0.71}
    _print_real_regret(Curves(runs), sweeps, images=1000, real_runs_of=lambda point: real if point == best else {})
    out = capsys.readouterr().out
    assert "real run under its seed (--best-point): +2.00, +2.00, +2.00 pp" in out


def test_tpe_concentrates_on_the_good_region(local_ray: None) -> None:
    """After its random start, TPE proposes better points than random search does, over the same seeds."""
    tpe_cfg = quickstart(**{"search.num_samples": 16, "search.scheduler": "fifo", "search.include_base": False})
    random_cfg = tpe_cfg.with_values({"search.algorithm": "random"})
    startup = 5  # ceil(0.3 x 16)
    tpe, rand = [], []
    for seed in range(3):
        tpe += [t.final for t in replay.replay_sweep(tpe_cfg, CURVES, seed)[startup:]]
        rand += [t.final for t in replay.replay_sweep(random_cfg, CURVES, seed)[startup:]]
    assert statistics.mean(tpe) > statistics.mean(rand)


def test_the_base_trial_runs_to_the_end_and_the_pick_never_ends_below_it_on_val(local_ray: None) -> None:
    cfg = quickstart()
    for seed in range(2):
        trials = replay.replay_sweep(cfg, CURVES, seed)
        first = trials[0]
        assert first.params == base_point(cfg) and first.is_base
        assert first.epochs == cfg.trainer.max_epochs  # the scheduler never stops the base config
        chosen = replay.pick(trials, cfg)
        assert chosen is not None and chosen.final >= first.final


def test_a_rung_ranks_trials_tied_at_chance_by_val_loss(local_ray: None) -> None:
    """Four points made to sit at chance at the first rung, with different losses: the lowest loss goes on."""
    cfg = quickstart(**{"search.num_samples": 4, "search.include_base": False, "search.reduction_factor": 4,
                        "search.stop_margin": 0.0})  # no margin: equal val top-1 is then decided by val loss
    grace = _first_rung(cfg)
    points = [c["params"] for c in RECORDED["configs"][:4]]
    runs = dict(CURVES.runs)
    for i, params in enumerate(points):
        key = curve_key(params)
        runs[key] = {s: _at_chance(r, grace, loss=2.30 + 0.01 * ((i + 2) % 4)) for s, r in runs[key].items()}
    curves = Curves(runs)  # the recorded runs as they are: no noise to move the losses
    lowest = points[2]  # loss 2.30
    trials = replay.replay_sweep(cfg.with_values({"search.points_to_evaluate": points}), curves, seed=0)
    ran_on = [t.params for t in trials if t.epochs > grace]
    assert ran_on == [lowest]


def _first_rung(cfg: Config) -> int:
    from rayjob.sweep.grace_period import grace_period

    return grace_period(cfg)


def _at_chance(run: Run, epochs: int, loss: float) -> Run:
    """``run`` with val top-1 at chance and val loss ``loss`` for its first ``epochs`` epochs."""
    return Run([CHANCE] * epochs + run.val_acc[epochs:], [loss] * epochs + run.val_loss[epochs:], run.test_acc)
