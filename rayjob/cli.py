"""Shared command-line plumbing: config arguments, user errors as one line, quiet logs."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from rayjob.config import Config, load_config
from rayjob.errors import RayjobError

QUICKSTART = Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"

# Python warnings from libraries that say nothing about a rayjob run (regexes matched at the message's start):
BENIGN_WARNINGS = (
    ".*does not have many workers",  # Lightning's DataLoader hint: data.num_workers is the user's choice
    r".*isinstance\(treespec, LeafSpec\)",  # a deprecation inside Lightning
    ".*`weights_only` was not set",  # rayjob loads checkpoints with weights_only=True itself
    # Ray Train's process group is made without a device_id (RayDDPStrategy, Ray's TorchConfig): a barrier
    # then uses the current device, which is the worker's one GPU.
    r".*barrier\(\): using the device under current context",
    # DDP on a GPU worker keeps the AccumulateGrad nodes it made on another stream than the forward's: autograd
    # adds a synchronization (torch says so). Only DDP runs (scaling.num_workers >= 1) have it; its cost on a
    # GPU is not measured yet (docs/performance.md).
    ".*AccumulateGrad node's stream does not match",
)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"YAML config file (default: configs/quickstart.yaml, {QUICKSTART})",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides applied after the file, e.g. trainer.max_epochs=3 model.backbone=resnet34",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def config_from_args(args: argparse.Namespace) -> Config:
    path = args.config
    if path is None and QUICKSTART.is_file():
        path = QUICKSTART
    return load_config(path, args.overrides)


def run_main(main: Callable[[], int]) -> None:
    """Run a CLI entry point: user errors print one line and exit 2, Ctrl-C exits 130."""
    try:
        code = main()
    except RayjobError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        code = 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do; Python's own flush at exit
        # would raise again, so stdout is pointed at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    # The interpreter's last garbage collection walks every object torch, Lightning and matplotlib made:
    # 2.3 s after the last line of a sweep here. Frozen objects are skipped; exit handlers still run.
    gc.freeze()
    sys.exit(code)


def quiet_libraries(ray_info: bool = True) -> None:
    """Silence advice that does not apply to rayjob's runs (tips, DataLoader-worker hints, deprecations
    inside libraries); ``ray_info=False`` also hides Ray Train/Tune's info lines (sweep trials).

    Called by drivers and again inside training processes, after Lightning has set up its loggers.
    """
    if not sys.stdout.isatty():  # log files and `ray job logs`: no color codes (read when Ray is imported)
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    for message in BENIGN_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    names = ["lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero", "lightning.pytorch"]
    if not ray_info:
        names += ["ray.train", "ray.tune"]
        # Some Ray Train modules name their logger by file path (``logging.getLogger(__file__)``), which
        # escapes its own log-level filter: e.g. "Reporting training result ..." once per epoch and worker.
        names += [name for name in logging.root.manager.loggerDict if "/ray/train/" in name]
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
