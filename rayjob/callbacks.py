"""Lightning callbacks that connect a run to its session and show progress."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Checkpoint

from rayjob.console import say
from rayjob.sessions import CHECKPOINT_FILE, Session


class ReportCheckpoint(Checkpoint):
    """Every epoch: save a full Lightning checkpoint (EMA + live weights, optimizer, loops) and
    report it with the epoch's metrics to the session.

    A ``Checkpoint`` subclass, so Lightning runs it after the module's own epoch-end hooks and the
    reported metrics are the epoch's final ones.
    """

    def __init__(self, session: Session, plots: bool = False, guard: DivergenceGuard | None = None) -> None:
        self.session = session
        self.plots = plots
        self.guard = guard
        self.history: list[dict[str, float]] = []  # every epoch's metrics; saved in checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        metrics["epoch"] = trainer.current_epoch + 1
        metrics["step"] = trainer.global_step
        metrics["diverged"] = 1.0 if self.guard is not None and self.guard.reason else 0.0
        self.history.append(dict(metrics))  # before the time/ measurements below are added
        staging = Path(tempfile.mkdtemp(prefix="rayjob-checkpoint-"))
        try:
            if self.plots:
                from rayjob.observe import write_epoch_data

                started = time.perf_counter()
                write_epoch_data(trainer, pl_module, staging, self.history)
                metrics["time/plot_data_s"] = time.perf_counter() - started
            started = time.perf_counter()
            trainer.save_checkpoint(staging / CHECKPOINT_FILE, weights_only=False)  # rank 0 writes
            metrics["time/checkpoint_s"] = time.perf_counter() - started
            self.session.report(metrics, staging if trainer.is_global_zero else None)
            trainer.strategy.barrier("rayjob-report")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class DivergenceGuard(L.Callback):
    """Stops a run whose training loss became NaN or infinite, and says so.

    The epoch still ends and is reported (its metrics are real, if poor) with ``diverged: 1.0``; the run
    then ends normally instead of crashing, so a sweep neither retries the same doomed config nor loses
    the record (trials.csv and the report mark it DIVERGED).
    """

    def __init__(self) -> None:
        self.reason = ""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if self.reason or loss is None or torch.isfinite(loss).all():
            return
        self.reason = (
            f"train/loss became {float(loss)} at epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
        )
        if trainer.is_global_zero:
            say(f"diverged: {self.reason}; stopping this run (lower optim.lr or raise gradient clipping)")
        trainer.should_stop = True


class LocalFileCheckpointIO(TorchCheckpointIO):
    """``torch.save`` straight into the (local, staging) file, then an atomic rename.

    Lightning's default serializes the whole checkpoint into memory first and then writes it through
    fsspec: measured here at ~1.4 s instead of ~0.3 s per epoch for a 340 MB resnet34 checkpoint.
    Ray copies the finished folder to the run's storage, which may be remote.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        torch.save(checkpoint, partial)
        os.replace(partial, target)


class EpochLog(L.Callback):
    """One line per epoch on rank 0: the metrics and the epoch's wall time."""

    def __init__(self, keys: tuple[str, ...] = ("train/loss", "val/loss", "val/acc_top1", "val/f1_macro")) -> None:
        self.keys = keys
        self._start = time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if trainer.is_global_zero and datamodule is not None and hasattr(datamodule, "index"):
            from rayjob.observe import print_dataset_stats

            print_dataset_stats(datamodule.index)
        if trainer.is_global_zero:
            params = sum(p.numel() for p in pl_module.parameters())
            backbone = pl_module.hparams.get("config", {}).get("model", {}).get("backbone", type(pl_module).__name__)
            say(
                f"model {backbone}: "
                f"{params / 1e6:.2f} M parameters ({params * 4 / 2**20:.1f} MiB in fp32), "
                f"{trainer.world_size} worker(s), {trainer.precision} precision, {trainer.max_epochs} epochs"
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key in self.keys:
            if key in metrics:
                value = float(metrics[key])
                parts.append(f"{key} {value:.4f}" if math.isfinite(value) else f"{key} {value}")
        parts.append(f"({time.perf_counter() - self._start:.1f} s)")
        say("  ".join(parts))
        cfg = getattr(pl_module, "cfg", None)
        if cfg is not None and cfg.data.weighted_sampler:
            counts = pl_module.train_label_counts.tolist()
            drawn = "  ".join(f"{name}:{n}" for name, n in zip(pl_module.classes, counts, strict=True))
            say(f"  weighted sampler drew (rank 0): {drawn}")
