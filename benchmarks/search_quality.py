"""What the sweep's pick scores on held-out test data, against the base config and peer recipes at equal compute.

    python benchmarks/search_quality.py --replay --seeds 20   # every recorded task, real searchers/schedulers (minutes)
    python benchmarks/search_quality.py --seeds 6             # real quickstart sweeps (about 3 min each)
    python benchmarks/search_quality.py --seeds 6 --task camera-shapes   # real sweeps on another embedded task
    python benchmarks/search_quality.py --replay --seeds 20 --quick search.reduction_factor=3   # a setting, no peers
    python benchmarks/search_quality.py --best-point --seeds 12   # the space's best point alone, under seeds 0-11
    python benchmarks/search_quality.py --reread                   # the kept real sweeps, read again (seconds)

Replay (``benchmarks/replay.py``): every trial reports a run of its point drawn with the run-to-run noise
measured on that task, through the real Tuner, searcher and scheduler; the pick is made by the real rule on
val and judged by its test top-1. One block per recorded task (``benchmarks/curves_*.json``), then the worst.
Methods, each sweep seed 0..N-1, all at the epoch budget rayjob used in that seed:
- rayjob: the quickstart's TPE + rayjob's ASHA (``RungScheduler``), its base config as trial 1;
- random + FIFO, TPE + FIFO: budget // max_epochs trials, each run to the end;
- random + Ray's stock ``ASHAScheduler`` (same rungs), trials in start order until the budget is spent;
- Optuna alone: ``TPESampler`` + ``HyperbandPruner`` with ``study.ask``/``tell`` on the same runs;
- the best point alone, with no search (its run drawn for that seed): the ceiling of P, since a base that
  draws a lucky run is hard to beat by 2 SE even for the best point;
- the base config alone (its run drawn for that seed).
Printed per method: median and IQR of the pick's test top-1, P(pick beats the base by >= 2 SE on test),
the median regret (the best point's mean test top-1 minus the picked point's: what the pick costs in
expectation, so a lucky draw does not count as a better point) and the median epochs used.

Real (``--seeds N``): ``python -m rayjob.tune`` on the quickstart (``--task``: its data.embedded) with
``search.seed`` and ``trainer.seed`` 0..N-1 (``--first-seed K``: K..K+N-1), so each sweep meets its own draw
of the training noise, as each replayed seed does (one training seed for all sweeps would judge N searches on
one draw); the test top-1 of each pick and of its base trial are read from ``export/model.json``. Each sweep
is kept in ``benchmarks/real_runs.json`` (``real_runs.py``), with ``--best-point``'s runs, so ``--reread`` can
read them again against what is recorded later. The picks' regret is read three ways (``_print_real_regret``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import real_runs
from replay import (  # benchmarks/ is on sys.path when a script here runs
    Curves,
    ReplayedTrial,
    curve_key,
    curve_table,
    drawn_run,
    pick,
    replay_config,
    replay_sweep,
)
from timing import ROOT, timed_run

from rayjob.config import Config, load_config
from rayjob.outputs.heldout import binomial_se
from rayjob.sweep.space import base_point

CONFIG = ROOT / "configs" / "quickstart.yaml"
NOISE_SE = 2.0  # "beats the base": by at least this many of the larger of the two binomial SEs (the targets' rule)
BENCHMARKS = ROOT / "benchmarks"


@dataclass
class Method:
    name: str
    tests: list[float] = field(default_factory=list)  # the pick's test top-1 in each sweep (its drawn run)
    expected: list[float] = field(default_factory=list)  # the picked point's mean test top-1 (what regret reads)
    beats: list[bool] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)


def recorded_tasks() -> dict[str, dict[str, Any]]:
    """Every recorded task's curves, by task name (the quickstart's task first)."""
    files = sorted(BENCHMARKS.glob("curves_*.json"), key=lambda f: (f.name != "curves_quickstart.json", f.name))
    if not files:
        raise SystemExit(f"no benchmarks/curves_*.json under {BENCHMARKS}: run python benchmarks/record_curves.py")
    recorded = [json.loads(f.read_text()) for f in files]
    return {r["task"].split(" ")[0]: r for r in recorded}


def beats(test: float, base: float, images: int) -> bool:
    """At least NOISE_SE standard errors better (the larger of the two binomial SEs)."""
    return test - base >= NOISE_SE * max(binomial_se(test, images), binomial_se(base, images))


def within_budget(trials: list[ReplayedTrial], budget: int, curves: Curves, seed: int) -> list[ReplayedTrial]:
    """Trials in start order until ``budget`` epochs are spent; the one running out is cut at that epoch."""
    kept, used = [], 0
    for t in trials:
        if used >= budget:
            break
        epochs = min(t.epochs, budget - used)
        if epochs < t.epochs:
            run = drawn_run(curves, t.params, seed)
            t = ReplayedTrial(t.params, epochs, run.val_acc[epochs - 1], run.val_loss[epochs - 1],
                              run.test_acc[epochs - 1], t.is_base)  # fmt: skip
        kept.append(t)
        used += epochs
    return kept


def optuna_alone(cfg: Config, curves: Curves, seed: int, budget: int) -> list[ReplayedTrial]:
    """Plain Optuna: TPESampler + HyperbandPruner over the same recorded runs, until the budget is spent."""
    import optuna

    from rayjob.sweep.space import optuna_distributions

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    max_epochs = cfg.trainer.max_epochs
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    distributions = optuna_distributions(cfg)
    trials, used = [], 0
    while used < budget:
        trial = study.ask(distributions)
        run = drawn_run(curves, trial.params, seed)
        epoch = 0
        for epoch in range(1, max_epochs + 1):
            trial.report(run.val_acc[epoch - 1], epoch)
            used += 1
            if used >= budget or (epoch < max_epochs and trial.should_prune()):
                break
        finished = epoch == max_epochs
        study.tell(trial, run.val_acc[epoch - 1] if finished else None,
                   state=optuna.trial.TrialState.COMPLETE if finished else optuna.trial.TrialState.PRUNED)  # fmt: skip
        trials.append(ReplayedTrial(dict(trial.params), epoch, run.val_acc[epoch - 1], run.val_loss[epoch - 1],
                                    run.test_acc[epoch - 1]))  # fmt: skip
    return trials


def replayed(recorded: dict[str, Any], seeds: range, overrides: list[str], quick: bool, noise: bool,
             concurrency: int) -> tuple[list[Method], float, int]:  # fmt: skip
    """(methods, best point's test top-1, test images) over replayed sweeps of one task, one per seed."""
    from ray.tune.schedulers import ASHAScheduler

    curves = curve_table(recorded, noise=noise)
    images = int(recorded["test_images"])
    cfg = replay_config(load_config(CONFIG, overrides), recorded["grid"])
    max_epochs = cfg.trainer.max_epochs
    best_key = curves.best_point()
    oracle = curves.mean(best_key).test_acc[-1]
    peers = {} if quick else {
        "random + fifo": {"search.algorithm": "random", "search.scheduler": "fifo"},
        "tpe + fifo": {"search.algorithm": "tpe", "search.scheduler": "fifo"},
        "random + ray asha": {"search.algorithm": "random"},
    }  # fmt: skip
    names = ["rayjob (tpe + its asha)", *peers, *([] if quick else ["optuna tpe + hyperband"]), "best point alone",
             "base config alone"]  # fmt: skip
    methods = {name: Method(name) for name in names}
    base_values = base_point(cfg)
    for seed in seeds:
        base_test = drawn_run(curves, base_values, seed).test_acc[-1]
        ours = replay_sweep(cfg, curves, seed, concurrency=concurrency)
        budget = sum(t.epochs for t in ours)
        results: dict[str, list[ReplayedTrial]] = {names[0]: ours}
        for name, values in peers.items():
            peer = cfg.with_values({**values, "search.include_base": False})
            if name == "random + ray asha":
                stock = ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=_grace(cfg),
                                      reduction_factor=cfg.search.reduction_factor)  # fmt: skip
                many = peer.with_values({"search.num_samples": 4 * budget // max_epochs + 4})
                replay = replay_sweep(many, curves, seed, stock, concurrency)
                results[name] = within_budget(replay, budget, curves, seed)
            else:
                few = peer.with_values({"search.num_samples": max(1, budget // max_epochs)})
                results[name] = replay_sweep(few, curves, seed, concurrency=concurrency)
        if not quick:
            results["optuna tpe + hyperband"] = optuna_alone(cfg, curves, seed, budget)
        for name, trials in results.items():
            chosen = pick(trials, cfg)
            test = chosen.test if chosen else 0.0
            expected = curves.mean(curve_key(chosen.params)).test_acc[-1] if chosen else 0.0
            _add(methods[name], test, expected, beats(test, base_test, images), sum(t.epochs for t in trials))
        base_expected = curves.mean(curve_key(base_values)).test_acc[-1]
        best_test = drawn_run(curves, dict(json.loads(best_key)), seed).test_acc[-1]  # the ceiling: no search at all
        _add(methods["best point alone"], best_test, oracle, beats(best_test, base_test, images), max_epochs)
        _add(methods["base config alone"], base_test, base_expected, False, max_epochs)
        line = ", ".join(f"{n.split(' (')[0]} {m.tests[-1]:.4f}" for n, m in methods.items())
        regret = 100 * (oracle - methods[names[0]].expected[-1])  # per seed, so runs over other seeds can be pooled
        print(f"seed {seed:2d} (budget {budget} epochs): {line}; rayjob's regret {regret:.2f} pp", flush=True)
    return list(methods.values()), oracle, images


def _grace(cfg: Config) -> int:
    from rayjob.sweep.grace_period import grace_period

    return grace_period(cfg)


def _add(method: Method, test: float, expected: float, beat: bool, epochs: int) -> None:
    method.tests.append(test)
    method.expected.append(expected)
    method.beats.append(beat)
    method.epochs.append(epochs)


@dataclass
class TaskLine:
    """rayjob's replay figures on one task beside the best peer's (by P, then regret)."""

    task: str
    share: float  # P(the pick beats the base by 2 SE on test)
    regret: float  # median, pp
    headroom_se: float  # the best point's mean test top-1 over the base point's, in binomial SEs
    peer: str
    peer_share: float
    peer_regret: float

    @property
    def behind(self) -> bool:
        """Worse than the best peer on P, or on regret: the two figures a user's one sweep is judged by."""
        return self.share < self.peer_share or self.regret > self.peer_regret


def share_of(method: Method) -> float:
    return sum(method.beats) / len(method.beats)


def regret_of(method: Method, oracle: float) -> float:
    """The median over seeds of the best point's mean test top-1 minus the picked point's, in pp."""
    return statistics.median((oracle - t) * 100 for t in method.expected)


def print_replay(task: str, methods: list[Method], oracle: float, images: int, possible: int) -> TaskLine:
    print(f"\n{task}: best point's test top-1 (mean of its recorded seeds) {oracle:.4f}; test images {images}")
    print(f"{'method':26s} {'median':>7s} {'IQR':>15s} {'P(>base+2SE)':>12s} {'regret pp':>9s} {'epochs':>9s}")
    for m in methods:
        q1, _, q3 = statistics.quantiles(m.tests, n=4, method="inclusive") if len(m.tests) > 1 else [m.tests[0]] * 3
        print(f"{m.name:26s} {statistics.median(m.tests):7.4f} {q1:7.4f}-{q3:.4f} {share_of(m):12.2f} "
              f"{regret_of(m, oracle):9.2f} {statistics.median(m.epochs):5.0f}/{possible}")  # fmt: skip
    ours, base = methods[0], methods[-1]
    peers = methods[1:-2] or [base]
    peer = max(peers, key=lambda m: (share_of(m), -regret_of(m, oracle)))
    base_mean = base.expected[0]  # the base point's mean test top-1 over its recorded runs
    line = TaskLine(task, share_of(ours), regret_of(ours, oracle),
                    (oracle - base_mean) / binomial_se(base_mean, images), peer.name, share_of(peer),
                    regret_of(peer, oracle))  # fmt: skip
    print(f"replay {task}: rayjob P(beats base by 2 SE) {line.share:.2f}, median regret {line.regret:.2f} pp; "
          f"best peer {peer.name} P {line.peer_share:.2f}, regret {line.peer_regret:.2f} pp; "
          f"headroom {line.headroom_se:.1f} SE ({len(ours.tests)} seeds)")  # fmt: skip
    return line


def print_worst(lines: list[TaskLine]) -> None:
    worst = min(lines, key=lambda t: (t.share, -t.regret))
    behind = [t.task for t in lines if t.behind]
    print(f"\nworst task: {worst.task} (P {worst.share:.2f}, median regret {worst.regret:.2f} pp); "
          f"rayjob behind a peer (P or regret) on: {', '.join(behind) or 'no task'}")


@dataclass(frozen=True)
class RealSweep:
    """One real quickstart sweep: its seed, the sidecar's held-out record, the picked point, wall time, epochs."""

    seed: int
    heldout: dict[str, Any]
    picked: dict[str, Any] | None
    wall: float
    epochs: int


def real(seeds: range, task: str | None, overrides: list[str]) -> None:
    """Real quickstart sweeps: each pick's and base trial's test top-1, from the sidecar's held-out record; each
    sweep is kept (``real_runs.py``) for ``--reread``."""
    name = task or load_config(CONFIG).data.embedded
    sweeps: list[RealSweep] = []
    data = [f"data.embedded={task}"] if task else []
    for seed in seeds:
        sweep = quickstart_sweep(seed, [f"search.seed={seed}", f"trainer.seed={seed}", *data, *overrides])
        real_runs.keep_sweep(name, seed, {"heldout": sweep.heldout, "picked": sweep.picked, "wall_s": sweep.wall,
                                          "epochs": sweep.epochs})  # fmt: skip
        sweeps.append(sweep)
        _print_real_row(sweep)
    report_real(name, sweeps)


def reread(task: str | None) -> None:
    """The kept real sweeps of ``task``, read again against what is recorded now."""
    name = task or load_config(CONFIG).data.embedded
    kept = real_runs.sweeps_of(name)
    if not kept:
        raise SystemExit(f"no real sweep of {name} is kept in {real_runs.REAL_RUNS}: run some first (--seeds N)")
    sweeps = [RealSweep(seed, e["heldout"], e["picked"], e["wall_s"], e["epochs"]) for seed, e in sorted(kept.items())]
    commits = sorted({e["commit"] for e in kept.values()})
    print(f"{name}: {len(sweeps)} kept sweeps (commits {', '.join(commits)})")
    for sweep in sweeps:
        _print_real_row(sweep)
    report_real(name, sweeps)


def report_real(task: str, sweeps: list[RealSweep]) -> None:
    """How many picks beat their base trial, and the picks' regret when the task's curves are recorded."""
    wins = sum(_real_beats(s.heldout) for s in sweeps)
    print(f"real: the pick beat its base trial by >= {NOISE_SE:g} SE on test in {wins} of {len(sweeps)} sweeps; "
          f"longest sweep {max(s.wall for s in sweeps):.0f} s")  # fmt: skip
    recorded = recorded_tasks().get(task)
    if recorded is not None:
        _print_real_regret(curve_table(recorded, noise=False), sweeps, int(recorded["test_images"]),
                           lambda point: real_runs.best_point_runs(task, point))  # fmt: skip


def _print_real_regret(
    curves: Curves, sweeps: list[RealSweep], images: int, real_runs_of: Callable[[str], dict[int, float]]
) -> None:
    """The picks' median regret to the space's best (``Curves.best_in``: of the points recorded under every
    sweep's own training seed, the best over all the seeds they share, scored by its mean over the sweeps'
    seeds, since each sweep ran under ``trainer.seed`` = its seed). Read three ways:
    - against the pick's own run: what the user got;
    - against the best point's run under the same seed: what the user would have got, had the search picked
      the best point. One seed's runs of different points rise and fall together, so this reading leaves out
      the seed's luck, which no search controls. That run is the point's real one-trial run under the seed
      (``real_runs_of(point)``, kept by ``--best-point``) when every sweep's seed has one, else its recorded
      run, a near copy (recording also tests every epoch, which draws from the random generator);
    - against the picked point's mean over the sweeps' seeds: what the choice of point cost, the replay's
      regret (for the picked points recorded under them all)."""
    worlds = [s.seed for s in sweeps]
    best = curves.best_in(worlds)
    if best is None:
        print(f"real: no recorded point holds runs under every sweep's trainer.seed {worlds}, so the space's "
              "best there is unknown: python benchmarks/record_curves.py --top 8 --add --seeds ... records them")
        return
    key, oracle = best
    held = {k for k, by_seed in curves.runs.items() if set(worlds) <= set(by_seed)}
    se = binomial_se(oracle, images)
    print(f"real: the space's best point {dict(json.loads(key))}: test {oracle:.4f}, its mean over trainer.seed "
          f"{', '.join(map(str, worlds))} (the best of the {len(held)} points recorded under them all)")  # fmt: skip
    _print_median("regret of each pick's run", [oracle - s.heldout["pick"]["top1"] for s in sweeps], se)
    real = real_runs_of(key)
    if all(s.seed in real for s in sweeps):
        same_seed = [real[s.seed] - s.heldout["pick"]["top1"] for s in sweeps]
        what = "regret of each pick's run against the best point's real run under its seed (--best-point)"
        copies = [real[w] - curves.runs[key][w].test_acc[-1] for w in worlds if w in curves.runs[key]]
        if len(copies) > 1:
            print(f"real: the best point's real runs minus its recorded runs under the same seeds: mean "
                  f"{100 * statistics.mean(copies):+.2f} pp, SD {100 * statistics.stdev(copies):.2f} pp "
                  f"(n {len(copies)})")  # fmt: skip
    else:
        same_seed = [curves.runs[key][s.seed].test_acc[-1] - s.heldout["pick"]["top1"] for s in sweeps]
        what = "regret of each pick's run against the best point's recorded run under its seed"
    _print_median(what, same_seed, se)
    point_regret = {k: oracle - statistics.mean(curves.runs[k][w].test_acc[-1] for w in worlds) for k in held}
    picked = [curve_key(s.picked) if s.picked else None for s in sweeps]  # None: a kept sweep that did not say
    of_point = [point_regret[k] for k in picked if k in point_regret]
    if of_point:
        each = ", ".join(f"{100 * point_regret[k]:+.2f}" if k in point_regret else "?" for k in picked)
        print(f"real: regret of each picked point (its mean over the same seeds; ?: not recorded under them) {each} pp")
        _print_median("regret of the picked points recorded", of_point, se)


def _print_median(what: str, regrets: list[float], se: float) -> None:
    """One regret line: each sweep's, then their median in pp and in the best point's binomial SEs, with the
    median's bootstrap SE (how far another set of as many sweeps could move it)."""
    rng = random.Random(0)
    medians = [statistics.median(rng.choices(regrets, k=len(regrets))) for _ in range(2000)]
    spread = statistics.pstdev(medians) if len(regrets) > 1 else math.nan
    print(f"real: {what}: {', '.join(f'{100 * r:+.2f}' for r in regrets)} pp; median of {len(regrets)} "
          f"{100 * statistics.median(regrets):.2f} pp (bootstrap SE {100 * spread:.2f}) = "
          f"{statistics.median(regrets) / se:.2f} SE")  # fmt: skip


def quickstart_sweep(seed: int, overrides: list[str]) -> RealSweep:
    """``python -m rayjob.tune`` on the quickstart with ``overrides`` in a temporary folder, read back: the
    sidecar's held-out record, the picked trial's point, the wall time and the epochs its trials ran."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG), f"run.storage_path={tmp}",
                   "run.name=bench", *overrides]  # fmt: skip
        finished = timed_run(command)
        if finished is None:
            raise SystemExit(f"the sweep of seed {seed} failed")
        heldout = json.loads((Path(tmp) / "bench" / "export" / "model.json").read_text())["heldout"]
        records = [json.loads(line) for line in (Path(tmp) / "bench" / "trials.jsonl").read_text().splitlines()]
    picked = next(r["params"] for r in records if r["trial_id"] == heldout["pick"]["trial_id"])
    searched = {k: v for k, v in picked.items() if k != "trainer.seed"}
    return RealSweep(seed, heldout, searched, finished[1], sum(r["epochs"] for r in records))


def same_world_best(seeds: range, task: str | None) -> None:
    """The task's best recorded point (``Curves.best_in`` over ``seeds``) trained under each ``trainer.seed`` in
    ``seeds`` (a one-trial sweep each, tested as a pick is): the run the user would have got, had the search
    picked the best point, in each real sweep's own draw of the training noise; printed beside the recorded run of
    that point under the same seed, which the regret of a real sweep reads in its place."""
    name = task or load_config(CONFIG).data.embedded
    curves = curve_table(recorded_tasks()[name], noise=False)
    found = curves.best_in(list(seeds))
    key = found[0] if found else curves.best_point()
    best = dict(json.loads(key))
    print(f"the best recorded point: {best}")
    data = [f"data.embedded={task}"] if task else []
    for seed in seeds:
        overrides = [f"trainer.seed={seed}", "search.num_samples=1", *data, *(f"{k}={v}" for k, v in best.items())]
        pick = quickstart_sweep(seed, overrides).heldout["pick"]
        real_runs.keep_best_point_run(name, key, seed, pick["top1"])
        run = curves.runs[key].get(seed)
        beside = f"; recorded run {run.test_acc[-1]:.4f}" if run else ""
        print(f"seed {seed}: the best point's test top-1 {pick['top1']:.4f} +- {pick['se']:.4f}{beside}", flush=True)


def _real_beats(heldout: dict[str, Any]) -> bool:
    base = heldout["base"]
    return base is not None and beats(heldout["pick"]["top1"], base["top1"], heldout["pick"]["images"])


def _print_real_row(sweep: RealSweep) -> None:
    p, b = sweep.heldout["pick"], sweep.heldout["base"] or sweep.heldout["pick"]
    gain = sweep.heldout["gain_se"]
    gain_text = "-" if gain is None or math.isnan(gain) else f"{gain:+.1f} paired SE"
    print(f"seed {sweep.seed}: pick {p['trial_id']} test {p['top1']:.4f} +- {p['se']:.4f}; base {b['trial_id']} "
          f"test {b['top1']:.4f} +- {b['se']:.4f}; {gain_text}; {sweep.epochs} epochs; {sweep.wall:.0f} s\n"
          f"  picked {sweep.picked or '(not kept)'}", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="sweep seeds per method (default 3)")
    parser.add_argument("--replay", action="store_true", help="replay the recorded curves (no training)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds K..K+N-1 instead of 0..N-1 (to add seeds to an earlier run)")  # fmt: skip
    parser.add_argument("--task", help="one embedded task (default: every recorded one; real sweeps: the quickstart's)")
    parser.add_argument("--quick", action="store_true", help="replay rayjob and the base only, no peers")
    parser.add_argument("--no-noise", action="store_true", help="draw recorded runs, not the measured noise model")
    parser.add_argument("--best-point", action="store_true",
                        help="instead of sweeps, train the task's best recorded point under each sweep's trainer.seed")
    parser.add_argument("--reread", action="store_true",
                        help="no sweeps: read the kept real sweeps (benchmarks/real_runs.json) again")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=2,
                        help="trials side by side, as the quickstart runs on 2 cores (default 2; 1: reproducible)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings for rayjob's sweep, e.g. search.reduction_factor=3")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = load_config(CONFIG, args.overrides)
    if args.reread:
        reread(args.task)
        return 0
    if args.best_point:
        same_world_best(range(args.first_seed, args.first_seed + args.seeds), args.task)
        return 0
    if not args.replay:
        real(range(args.first_seed, args.first_seed + args.seeds), args.task, args.overrides)
        return 0
    import ray

    tasks = recorded_tasks()
    if args.task and args.task not in tasks:
        raise SystemExit(f"--task {args.task}: no recorded curves (recorded: {', '.join(tasks)})")
    logging.getLogger("ray.tune").setLevel(logging.ERROR)  # Tune's per-sweep INFO lines, hundreds of sweeps
    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, logging_level=logging.ERROR)
    lines = []
    try:
        for task, recorded in tasks.items():
            if args.task and task != args.task:
                continue
            print(f"== {task}", flush=True)
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            methods, oracle, images = replayed(recorded, seeds, args.overrides, args.quick, not args.no_noise,
                                               args.concurrency)  # fmt: skip
            possible = cfg.search.num_samples * cfg.trainer.max_epochs
            lines.append(print_replay(task, methods, oracle, images, possible))
    finally:
        ray.shutdown()
    print_worst(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
