"""Stop a run whose training loss became NaN or infinite, and say so."""

from __future__ import annotations

import lightning as L
import torch

from rayjob.console import run_log


class DivergenceGuard(L.Callback):
    """Stops a run whose training loss became NaN or infinite.

    It looks once an epoch, at the sum of the epoch's training losses that the module keeps on the device
    (``Classifier.train_loss_sum``): one non-finite step makes the sum non-finite, so no step is checked on its
    own and the host waits for the device once an epoch, not once a step. The epoch still ends and is
    reported (its metrics are real, if poor) with ``diverged: 1.0``; the run then ends normally instead of
    crashing, so a sweep neither retries the same doomed config nor loses the record (the trials table and the
    report mark it DIVERGED).
    """

    def __init__(self) -> None:
        self.reason = ""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Once an epoch: the epoch still ends and is reported, marked diverged, and then the run stops."""
        total = getattr(pl_module, "train_loss_sum", None)
        if self.reason or not isinstance(total, torch.Tensor) or bool(torch.isfinite(total)):
            return
        self.reason = f"train/loss became {float(total)} at epoch {trainer.current_epoch + 1}"
        if trainer.is_global_zero:
            run_log.warning(f"diverged: {self.reason}; stopping this run (lower optim.lr or raise gradient clipping)")
        trainer.should_stop = True
