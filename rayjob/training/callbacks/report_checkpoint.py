"""Every epoch: a full Lightning checkpoint and the epoch's metrics, handed to the session."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from rayjob.layout import CHECKPOINT_FILE, CHECKPOINT_METRICS_FILE
from rayjob.training.callbacks.divergence_guard import DivergenceGuard
from rayjob.training.placement import worker_nodes
from rayjob.training.sessions import Session


class ReportCheckpoint(Checkpoint):
    """Save a full checkpoint (EMA + live weights, optimizer, loops) and report it with the epoch's metrics.

    A ``Checkpoint`` subclass, so Lightning runs it after the module's own epoch-end hooks and the
    reported metrics are the epoch's final ones. Besides the metrics it reports where the run really
    ran: ``world_size`` and the Ray nodes of its workers.
    """

    def __init__(self, session: Session, guard: DivergenceGuard, plots: bool = False) -> None:
        self.session = session
        self.guard = guard
        self.plots = plots
        self.history: list[dict[str, float]] = []  # every epoch's metrics; saved in checkpoints
        self.nodes = ""
        self._epoch_started = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.nodes = worker_nodes(trainer.world_size)  # a collective: every rank calls it

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch_s = time.perf_counter() - self._epoch_started  # training and validation; what follows is overhead
        metrics: dict[str, Any] = {name: float(value) for name, value in trainer.callback_metrics.items()}
        metrics.update(epoch=trainer.current_epoch + 1, step=trainer.global_step)
        metrics["diverged"] = 1.0 if self.guard.reason else 0.0
        self.history.append(dict(metrics))  # before the measurements below are added
        metrics.update(world_size=trainer.world_size, worker_nodes=self.nodes)
        metrics["time/epoch_s"], metrics["time/epoch_end"] = epoch_s, time.time()  # benchmarks/trial_cost.py
        staging = Path(tempfile.mkdtemp(prefix="rayjob-checkpoint-"))
        try:
            if self.plots:
                from rayjob.training.epoch_data import write_epoch_data

                started = time.perf_counter()
                write_epoch_data(trainer, pl_module, staging, self.history)
                metrics["time/plot_data_s"] = time.perf_counter() - started
            started = time.perf_counter()
            trainer.save_checkpoint(staging / CHECKPOINT_FILE, weights_only=False)  # rank 0 writes
            metrics["time/checkpoint_s"] = time.perf_counter() - started
            if trainer.is_global_zero:  # the epoch's metrics travel with its checkpoint (export ranks by them)
                (staging / CHECKPOINT_METRICS_FILE).write_text(json.dumps(metrics, indent=1))
            self.session.report(metrics, staging if trainer.is_global_zero else None)
            trainer.strategy.barrier("rayjob-report")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
