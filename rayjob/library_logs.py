"""What the libraries rayjob uses may print: their advice that does not apply to rayjob's runs is silenced,
in drivers and again in training processes. No behaviour of any library is switched here."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

# Python warnings from libraries that say nothing about a rayjob run (regexes matched at the message's start):
BENIGN_WARNINGS = (
    ".*does not have many workers",  # Lightning's DataLoader hint: data.num_workers is the user's choice
    r".*isinstance\(treespec, LeafSpec\)",  # a deprecation inside Lightning
    ".*`weights_only` was not set",  # rayjob loads checkpoints with weights_only=True itself
    # data.augment_on: device augments in the module's hook, by design, while batches come from the datamodule
    ".*You have overridden `on_after_batch_transfer` in `LightningModule`",
    # Ray Train's process group is made without a device_id (RayDDPStrategy, Ray's TorchConfig): a barrier
    # then uses the current device, which is the worker's one GPU.
    r".*barrier\(\): using the device under current context",
    # DDP on a GPU worker keeps the AccumulateGrad nodes it made on another stream than the forward's: autograd
    # adds a synchronization (torch says so). Only DDP runs (scaling.num_workers >= 1) have it; its cost on a
    # GPU is not measured yet (docs/performance.md).
    ".*AccumulateGrad node's stream does not match",
)


def quiet_libraries(ray_info: bool = True) -> None:
    """Silence advice that does not apply to rayjob's runs (tips, DataLoader-worker hints, deprecations
    inside libraries); ``ray_info=False`` also hides Ray Train/Tune's info lines (sweep trials).

    Called by drivers and again inside training processes, after Lightning has set up its loggers.
    """
    quiet_sigterm_exits()
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


def quiet_sigterm_exits() -> None:
    """No traceback when Ray's SIGTERM ends this process while the interpreter is already shutting down.

    Ray ends a process it no longer needs (a trial the scheduler stopped, the workers at the end of a sweep)
    with SIGTERM, and its handler raises ``SystemExit`` in whatever the process was doing. When that was
    interpreter shutdown (joining threads, finalizers), Python reports the exit through
    ``sys.unraisablehook`` as an "Exception ignored" traceback, which Ray forwards to the driver: a dozen
    lines and a 135-column path for a trial that is fine. An exit cannot be raised there anyway, so such
    a ``SystemExit`` is dropped; every other unraisable error is reported as before.
    """
    if getattr(sys.unraisablehook, "rayjob", False):
        return
    report = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, SystemExit):
            report(unraisable)

    hook.rayjob = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
