"""Fault injection for tests: kill the training process once, in the middle of an epoch.

``trainer.fault_kill_at_epoch: N`` SIGKILLs the process running the training loop after the first
batch of epoch N, the first time only (a marker file next to the run's outputs remembers it). With
Ray Train's ``run.max_failures`` the worker group restarts from the last checkpoint; in an in-process
sweep trial, Tune's ``search.trial_max_failures`` restarts the trial.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning as L

from rayjob.config import Config


def fault_marker(cfg: Config) -> Path:
    return Path(cfg.run.storage_path) / cfg.run.name / f".fault-killed-epoch-{cfg.trainer.fault_kill_at_epoch}"


class KillWorkerOnce(L.Callback):
    def __init__(self, epoch: int, marker: Path) -> None:
        self.epoch = epoch
        self.marker = marker

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        if trainer.current_epoch + 1 != self.epoch or batch_idx != 0 or self.marker.exists():
            return
        if trainer.is_global_zero:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(f"killed pid {os.getpid()} in epoch {self.epoch}\n")
            os.kill(os.getpid(), signal.SIGKILL)
