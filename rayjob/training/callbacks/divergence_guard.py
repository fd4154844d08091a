"""Stop a run whose training loss became NaN or infinite, and say so."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from rayjob.console import say


class DivergenceGuard(L.Callback):
    """Stops a run whose training loss became NaN or infinite.

    The epoch still ends and is reported (its metrics are real, if poor) with ``diverged: 1.0``; the run
    then ends normally instead of crashing, so a sweep neither retries the same doomed config nor loses
    the record (the trials table and the report mark it DIVERGED).
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
