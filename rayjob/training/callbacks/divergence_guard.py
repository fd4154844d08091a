"""Stop a run whose training loss became NaN or infinite, and say so."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from rayjob.console import run_log


class DivergenceGuard(L.Callback):
    """Stops a run whose training loss became NaN or infinite.

    It looks once an epoch (one host sync, not one a step). The epoch still ends and is reported (its metrics
    are real, if poor) with ``diverged: 1.0``; the run then ends normally instead of crashing, so a sweep
    neither retries the same doomed config nor loses the record (the trials table and the report mark it
    DIVERGED).
    """

    def __init__(self) -> None:
        self.reason = ""
        self._first_bad: torch.Tensor | None = None  # the global step of the epoch's first non-finite loss, or -1

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._first_bad = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        """Note a non-finite loss on the device: reading it here would make the host wait for the GPU every step."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if self.reason or loss is None:
            return
        bad = ~torch.isfinite(loss.detach()).all()
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        self._first_bad = torch.where(bad & (self._first_bad < 0), trainer.global_step, self._first_bad)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Once an epoch: the epoch still ends and is reported, marked diverged, and then the run stops."""
        if self.reason or self._first_bad is None or int(self._first_bad) < 0:
            return
        loss = trainer.callback_metrics.get("train/loss")
        value = "nan" if loss is None else float(loss)
        self.reason = f"train/loss became {value} at epoch {trainer.current_epoch + 1}, step {int(self._first_bad)}"
        if trainer.is_global_zero:
            run_log.warning(f"diverged: {self.reason}; stopping this run (lower optim.lr or raise gradient clipping)")
        trainer.should_stop = True
