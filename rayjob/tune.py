"""``python -m rayjob.tune``: the hyperparameter sweep (Ray Tune + Optuna TPE + ASHA).

Each trial runs the one training function:
- ``scaling.num_workers: 0``: in the trial's own process. Trial actors are reused, so a trial starts
  without a new Python process, imports or worker group: the cheap path for small models.
- ``scaling.num_workers: N``: the trial launches a ``TorchTrainer`` of N workers (Ray Train V2 pattern),
  named ``train-<trial id>`` so a restarted trial resumes that run from its last checkpoint.

Rerunning with the same ``run.name`` (or ``--resume``) restores an interrupted sweep with
``Tuner.restore``: finished trials are kept, unfinished ones continue from their last checkpoint.
"""

from __future__ import annotations

import argparse
import time

from rayjob.cli import add_config_arguments, config_from_args, run_main
from rayjob.console import warn
from rayjob.errors import ConfigError
from rayjob.library_logs import quiet_libraries
from rayjob.preflight import check_config_and_data, short_run_warning
from rayjob.sweep.grace_period import grace_period
from rayjob.sweep.space import check_space


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.tune",
        description="Search hyperparameters (search.space in the config) with Optuna TPE and ASHA on Ray.",
        epilog=(
            "examples:\n  python -m rayjob.tune --config configs/quickstart.yaml\n"
            "  python -m rayjob.tune --config configs/quickstart.yaml --resume\n"
            "  python -m rayjob.tune --config configs/quickstart.yaml --plan\n"
            "  python -m rayjob.tune --config configs/quickstart.yaml --extend 5\n"
            "  ray job submit --working-dir . -- python -m rayjob.tune --config configs/t4.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted sweep in <run.storage_path>/<run.name> (an error if there is none); "
        "rerunning with the same run.name resumes as well",
    )
    parser.add_argument(
        "--extend",
        type=int,
        metavar="N",
        help="add N trials to the finished (or budget-ended) sweep of this run.name, in the same Optuna study; "
        "the table, report, best trial and ONNX are redone over all trials",
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print this sweep's worst-case epochs, its concurrency and one epoch's measured time, and from "
        "them its worst-case time and cost; then exit (nothing starts)",
    )
    parser.add_argument(
        "--epoch-seconds",
        type=float,
        metavar="S",
        help="with --plan: one epoch's time on the sweep's hardware, instead of measuring it here",
    )
    parser.add_argument("--verbose", action="store_true", help="Ray Tune's status tables and every trial's output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    if not cfg.search.space:
        raise ConfigError("search.space is empty: add at least one entry, e.g. optim.lr: {loguniform: [1e-4, 3e-3]}")
    check_space(cfg)
    grace_period(cfg)
    quiet_libraries()
    if args.epoch_seconds is not None and (not args.plan or args.epoch_seconds <= 0):
        raise ConfigError("--epoch-seconds goes with --plan and must be more than 0 (e.g. --plan --epoch-seconds 40)")
    if args.plan:
        from rayjob.sweep.plan import print_plan

        if args.epoch_seconds is None:
            check_config_and_data(cfg)  # the epoch is measured on the config's data
        print_plan(cfg, args.epoch_seconds)
        return 0
    warning = short_run_warning(cfg, check_config_and_data(cfg))  # the base config's; each trial's may differ
    if warning:
        warn(warning)
    if args.extend is not None:
        if args.resume:
            raise ConfigError("--extend and --resume do not go together: --extend N continues an interrupted extension")
        from rayjob.sweep.extend import plan_extension

        return sweep(cfg, False, args.verbose, plan_extension(cfg, args.extend))
    return sweep(cfg, args.resume, args.verbose)


def sweep(cfg: object, resume: bool, verbose: bool, extension: tuple | None = None) -> int:
    """Run the sweep (or, with ``extension`` = (its config, ``Extension``), the trials ``--extend`` adds), then
    (when it finished) the post-hook over every trial; the last line printed is the best metric."""
    from rayjob.outputs.finish import finish_sweep
    from rayjob.outputs.heldout import held_out
    from rayjob.outputs.summary import print_summary
    from rayjob.ray_cluster import shutdown_ray_in_background
    from rayjob.results import write_records
    from rayjob.sweep.driver import run_sweep

    started = time.perf_counter()
    num_samples = cfg.search.num_samples
    if extension is None:
        outcome = run_sweep(cfg, resume=resume, verbose=verbose)
    else:
        outcome = run_sweep(extension[0], resume=False, verbose=verbose, extension=extension[1])
        num_samples = len(extension[1].earlier) + extension[0].search.num_samples
    tables = write_records(outcome)
    post_hook = time.perf_counter()  # the sweep's time ends here; the held-out evaluation is the post-hook's
    stopping = shutdown_ray_in_background()  # needs no Ray: the held-out evaluation runs while Ray stops
    heldout = held_out(outcome) if outcome.finished else None
    stopping.join()  # Ray's buffered log lines arrive before the summary, not after it
    print_summary(outcome, num_samples, post_hook - started, tables, heldout)
    if not outcome.finished:
        return 130
    if outcome.best is None:
        return 1
    code = finish_sweep(outcome, cfg, heldout, started=post_hook)
    if heldout is not None and heldout.split == "test":
        print(f"test/acc_top1 {heldout.pick.top1:.4f}", flush=True)
    print(f"{outcome.metric} {outcome.best.final:.4f}", flush=True)  # the last line, for scripts
    return code


if __name__ == "__main__":
    run_main(main)
