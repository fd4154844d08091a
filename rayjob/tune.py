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
    from rayjob.lifecycle import Sweep

    return Sweep.open(cfg, args.resume, args.verbose, args.extend).run()


if __name__ == "__main__":
    run_main(main)
