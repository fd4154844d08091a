"""What a run prints about itself: the dataset and model once, then one line per epoch (rank 0)."""

from __future__ import annotations

import math
import time

import lightning as L

from rayjob.console import run_log, run_progress_shown

EPOCH_KEYS = ("train/loss", "val/loss", "val/acc_top1", "val/f1_macro")


class EpochLog(L.Callback):
    """One line per epoch on rank 0: the metrics and the epoch's wall time.

    Sweep trials do not show it (``console.show_run_progress``): the sweep console prints their progress from
    the driver, and a dataset table per trial would only repeat itself.
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._train_end = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (trainer.is_global_zero and run_progress_shown()):
            return
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "index"):
            from rayjob.data.stats import print_dataset_stats

            print_dataset_stats(datamodule.index)
            for split, info in getattr(datamodule, "cache_info", {}).items():
                what = "built" if info.built else "reused"
                run_log.info(f"decoded cache ({split}): {what}, {info.images} images, {info.megabytes:.0f} MiB, "
                    f"{info.seconds:.1f} s ({info.folder})")  # fmt: skip
        params = sum(p.numel() for p in pl_module.parameters())
        backbone = pl_module.hparams.get("config", {}).get("model", {}).get("backbone", type(pl_module).__name__)
        run_log.info(
            f"model {backbone}: {params / 1e6:.2f} M parameters ({params * 4 / 2**20:.1f} MiB in fp32), "
            f"{trainer.world_size} worker(s), {trainer.precision} precision, {trainer.max_epochs} epochs"
        )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._train_end = 0.0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._train_end = time.perf_counter()  # the epoch's training part ends where validation begins

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (trainer.is_global_zero and run_progress_shown()):
            return
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key in EPOCH_KEYS:
            if key in metrics:
                value = float(metrics[key])
                parts.append(f"{key} {value:.4f}" if math.isfinite(value) else f"{key} {value}")
        now = time.perf_counter()
        train = (self._train_end or now) - self._start
        parts.append(f"({now - self._start:.1f} s, train {train:.1f} s)")
        run_log.info("  ".join(parts))
        cfg = getattr(pl_module, "cfg", None)
        if cfg is not None and cfg.data.weighted_sampler:
            counts = pl_module.train_label_counts.tolist()
            drawn = "  ".join(f"{name}:{n}" for name, n in zip(pl_module.classes, counts, strict=True))
            run_log.info(f"  weighted sampler drew (rank 0): {drawn}")
