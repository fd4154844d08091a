"""``python -m rayjob.tune``: the hyperparameter sweep (Ray Tune + Optuna TPE + ASHA).

Each trial runs the one training function:
- ``scaling.num_workers: 0``: in the trial's own process (``TuneSession``). Trial actors are reused, so
  a trial starts without a new Python process, imports or worker group: the cheap path for small models.
- ``scaling.num_workers: N``: the trial launches a ``TorchTrainer`` of N workers (Ray Train V2 pattern),
  named ``train-<trial id>`` so a restarted trial resumes that run from its last checkpoint.

Rerunning with the same ``run.name`` (or ``--resume``) restores an interrupted sweep with
``Tuner.restore``: finished trials are kept, unfinished ones continue from their last checkpoint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rayjob.cli import add_config_arguments, config_from_args, quiet_libraries, run_main
from rayjob.datasource import is_uri
from rayjob.errors import ConfigError
from rayjob.preflight import check_config_and_data
from rayjob.space import check_space


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.tune",
        description="Search hyperparameters (search.space in the config) with Optuna TPE and ASHA on Ray.",
        epilog=(
            "examples:\n  python -m rayjob.tune --config configs/quickstart.yaml\n"
            "  python -m rayjob.tune --config configs/quickstart.yaml --resume\n"
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
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    check_space(cfg)
    if not cfg.search.space:
        raise ConfigError("search.space is empty: add at least one entry, e.g. optim.lr: {loguniform: [1e-4, 3e-3]}")
    quiet_libraries()
    check_config_and_data(cfg)
    from rayjob.sweep import run_sweep

    started = time.perf_counter()
    outcome = run_sweep(cfg, resume=args.resume)
    outcome.print_summary(cfg, time.perf_counter() - started)
    if not outcome.finished:
        return 130
    if outcome.best is None:
        return 1
    if is_uri(outcome.experiment_dir):
        print("post-hook skipped: export and report need a local storage_path for now", flush=True)
        return 0
    from rayjob.posthook import post_sweep

    code = post_sweep(Path(outcome.experiment_dir), cfg)
    print(f"{cfg.search.metric} {outcome.best.best:.4f}")  # the last line, for scripts
    return code


if __name__ == "__main__":
    run_main(main)
