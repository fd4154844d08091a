"""What the sweep's pick scores on held-out test data, against the base config and peer recipes at equal compute.

    python benchmarks/search_quality.py --replay --seeds 20   # recorded curves, real searchers/schedulers (minutes)
    python benchmarks/search_quality.py --seeds 3             # real quickstart sweeps (about 4 min each)
    python benchmarks/search_quality.py --replay --seeds 20 search.reduction_factor=3   # compare a setting

Replay (``rayjob.sweep.replay``): every trial reports a recorded run of its point (one of 2 training seeds,
drawn per sweep), through the real Tuner, OptunaSearch and scheduler; the pick is made by the real rule on
val and judged by its recorded test top-1 (``benchmarks/curves_quickstart.json``, 1,147 test images).
Methods, each sweep seed 0..N-1, all at the epoch budget rayjob used in that seed:
- rayjob: the quickstart's TPE + rayjob's ASHA (``RungScheduler``), its base config as trial 1;
- random + FIFO, TPE + FIFO: budget // max_epochs trials, each run to the end;
- random + Ray's stock ``ASHAScheduler`` (same rungs), trials in start order until the budget is spent;
- Optuna alone: ``TPESampler`` + ``HyperbandPruner`` with ``study.ask``/``tell`` on the same runs;
- the base config alone (its run drawn for that seed).
Printed per method: median and IQR of the pick's test top-1, P(pick beats the base by >= 2 SE on test),
the median regret to the best point's test top-1 (mean of its 2 seeds) and the median epochs used.

Real (``--seeds N``): ``python -m rayjob.tune`` on the quickstart with ``search.seed`` 0..N-1; the test top-1 of
each pick and of its base trial are read from ``export/model.json`` (``heldout``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timing import ROOT, timed_run

from rayjob.config import Config, load_config
from rayjob.outputs.heldout import binomial_se
from rayjob.sweep.replay import Curves, ReplayedTrial, curve_table, drawn_run, pick, replay_config, replay_sweep
from rayjob.sweep.space import base_point

CONFIG = ROOT / "configs" / "quickstart.yaml"
NOISE_SE = 2.0  # "beats the base": by at least this many of the larger of the two binomial SEs (the targets' rule)
CURVES_FILE = ROOT / "benchmarks" / "curves_quickstart.json"


@dataclass
class Method:
    name: str
    tests: list[float] = field(default_factory=list)
    beats: list[bool] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)


def load_curves() -> dict[str, Any]:
    if not CURVES_FILE.is_file():
        raise SystemExit(f"{CURVES_FILE} is missing: run python benchmarks/record_curves.py first")
    return json.loads(CURVES_FILE.read_text())


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


def replayed(seeds: int, overrides: list[str]) -> tuple[list[Method], float, int]:
    """(methods, best point's test top-1, test images) over ``seeds`` replayed sweeps each."""
    import ray
    from ray.tune.schedulers import ASHAScheduler

    recorded = load_curves()
    curves = curve_table(recorded)
    images = int(recorded["test_images"])
    cfg = replay_config(load_config(CONFIG, overrides), recorded["grid"])
    max_epochs = cfg.trainer.max_epochs
    oracle = max(statistics.mean(s["test_acc"][-1] for s in c["seeds"]) for c in recorded["configs"])
    peers = {
        "random + fifo": {"search.algorithm": "random", "search.scheduler": "fifo"},
        "tpe + fifo": {"search.algorithm": "tpe", "search.scheduler": "fifo"},
        "random + ray asha": {"search.algorithm": "random"},
    }
    names = ["rayjob (tpe + its asha)", *peers, "optuna tpe + hyperband", "base config alone"]
    methods = {name: Method(name) for name in names}
    base_values = base_point(cfg)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)  # Tune's per-sweep INFO lines, 80 sweeps of them
    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, logging_level=logging.ERROR)
    try:
        for seed in range(seeds):
            base_test = drawn_run(curves, base_values, seed).test_acc[-1]
            ours = replay_sweep(cfg, curves, seed)
            budget = sum(t.epochs for t in ours)
            results: dict[str, list[ReplayedTrial]] = {names[0]: ours}
            for name, values in peers.items():
                peer = cfg.with_values({**values, "search.include_base": False})
                if name == "random + ray asha":
                    stock = ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=_grace(cfg),
                                          reduction_factor=cfg.search.reduction_factor)  # fmt: skip
                    many = peer.with_values({"search.num_samples": 4 * budget // max_epochs + 4})
                    results[name] = within_budget(replay_sweep(many, curves, seed, stock), budget, curves, seed)
                else:
                    few = peer.with_values({"search.num_samples": max(1, budget // max_epochs)})
                    results[name] = replay_sweep(few, curves, seed)
            results["optuna tpe + hyperband"] = optuna_alone(cfg, curves, seed, budget)
            for name, trials in results.items():
                chosen = pick(trials, cfg)
                test = chosen.test if chosen else 0.0
                _add(methods[name], test, beats(test, base_test, images), sum(t.epochs for t in trials))
            _add(methods["base config alone"], base_test, False, max_epochs)
            line = ", ".join(f"{n.split(' (')[0]} {m.tests[-1]:.4f}" for n, m in methods.items())
            print(f"seed {seed:2d} (budget {budget} epochs): {line}", flush=True)
    finally:
        ray.shutdown()
    return list(methods.values()), oracle, images


def _grace(cfg: Config) -> int:
    from rayjob.sweep.schedule import grace_period

    return grace_period(cfg)


def _add(method: Method, test: float, beat: bool, epochs: int) -> None:
    method.tests.append(test)
    method.beats.append(beat)
    method.epochs.append(epochs)


def print_replay(methods: list[Method], oracle: float, images: int, possible: int) -> None:
    print(f"\nbest point's test top-1 (mean of its 2 recorded seeds): {oracle:.4f}; test images {images}")
    print(f"{'method':26s} {'median':>7s} {'IQR':>15s} {'P(>base+2SE)':>12s} {'regret pp':>9s} {'epochs':>9s}")
    for m in methods:
        q1, _, q3 = statistics.quantiles(m.tests, n=4, method="inclusive") if len(m.tests) > 1 else [m.tests[0]] * 3
        median = statistics.median(m.tests)
        regret = statistics.median((oracle - t) * 100 for t in m.tests)
        share = sum(m.beats) / len(m.beats)
        print(f"{m.name:26s} {median:7.4f} {q1:7.4f}-{q3:.4f} {share:12.2f} {regret:9.2f} "
              f"{statistics.median(m.epochs):5.0f}/{possible}")  # fmt: skip
    ours, peers = methods[0], [m for m in methods[1:] if m.name != "base config alone"]
    best_peer = max(peers, key=lambda m: statistics.median(m.tests))
    regret = statistics.median((oracle - t) * 100 for t in ours.tests)
    print(f"replay: rayjob median test {statistics.median(ours.tests):.4f} vs best peer {best_peer.name} "
          f"{statistics.median(best_peer.tests):.4f}; P(beats base by 2 SE) {sum(ours.beats) / len(ours.beats):.2f}; "
          f"median regret {regret:.2f} pp ({len(ours.tests)} seeds)")  # fmt: skip


def real(seeds: int, overrides: list[str]) -> None:
    """Real quickstart sweeps: each pick's and base trial's test top-1, from the sidecar's held-out record."""
    rows: list[tuple[int, dict[str, Any], float, int]] = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG), f"run.storage_path={tmp}",
                       "run.name=bench", f"search.seed={seed}", *overrides]  # fmt: skip
            finished = timed_run(command)
            if finished is None:
                raise SystemExit(f"the sweep of seed {seed} failed")
            heldout = json.loads((Path(tmp) / "bench" / "export" / "model.json").read_text())["heldout"]
            records = [json.loads(line) for line in (Path(tmp) / "bench" / "trials.jsonl").read_text().splitlines()]
        epochs = sum(r["epochs"] for r in records)
        rows.append((seed, heldout, finished[1], epochs))
        _print_real_row(*rows[-1])
    wins = sum(_real_beats(h) for _, h, _, _ in rows)
    print(f"real: the pick beat its base trial by >= {NOISE_SE:g} SE on test in {wins} of {len(rows)} sweeps")


def _real_beats(heldout: dict[str, Any]) -> bool:
    base = heldout["base"]
    return base is not None and beats(heldout["pick"]["top1"], base["top1"], heldout["pick"]["images"])


def _print_real_row(seed: int, heldout: dict[str, Any], wall: float, epochs: int) -> None:
    p, b = heldout["pick"], heldout["base"] or heldout["pick"]
    gain = heldout["gain_se"]
    gain_text = "-" if gain is None or math.isnan(gain) else f"{gain:+.1f} paired SE"
    print(f"seed {seed}: pick {p['trial_id']} test {p['top1']:.4f} +- {p['se']:.4f}; base {b['trial_id']} test "
          f"{b['top1']:.4f} +- {b['se']:.4f}; {gain_text}; {epochs} epochs; {wall:.0f} s", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="sweep seeds per method (default 3)")
    parser.add_argument("--replay", action="store_true", help="replay the recorded curves (no training)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings for rayjob's sweep, e.g. search.reduction_factor=3")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = load_config(CONFIG, args.overrides)
    if args.replay:
        methods, oracle, images = replayed(args.seeds, args.overrides)
        print_replay(methods, oracle, images, cfg.search.num_samples * cfg.trainer.max_epochs)
    else:
        real(args.seeds, args.overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
