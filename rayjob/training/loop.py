"""``train_loop``: the one training function every entry point calls.

It builds data, model, EMA and a Lightning ``Trainer`` from a config dict, resumes from the session's
checkpoint when there is one, and reports metrics plus a checkpoint every epoch.

- Under ``TorchTrainer`` (Ray Train workers) it is called as ``train_loop(config)``: Ray's DDP
  strategy, cluster environment and ``prepare_trainer`` are used and reports go to Ray Train.
- In-process (``scaling.num_workers: 0``) the caller passes a session (see ``rayjob.training.sessions``)
  and a plain single-device Lightning strategy is used, so breakpoints work.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import lightning as L
from lightning.pytorch.profilers import Profiler

from rayjob.config import Config
from rayjob.console import run_log, run_progress_shown
from rayjob.data.datamodule import ImageDataModule
from rayjob.data.files import inverse_frequency
from rayjob.data.sources import resolve_root
from rayjob.devices import local_gpus, resolve_devices
from rayjob.library_logs import quiet_libraries
from rayjob.model.classifier import Classifier
from rayjob.model.ema import ema_callback
from rayjob.training.callbacks.checkpoint_io import LocalFileCheckpointIO
from rayjob.training.callbacks.divergence_guard import DivergenceGuard
from rayjob.training.callbacks.epoch_log import EpochLog
from rayjob.training.callbacks.report_checkpoint import ReportCheckpoint
from rayjob.training.callbacks.rng_state import RngState
from rayjob.training.sessions import RayTrainSession, Session


def train_loop(config: Config | dict[str, Any], session: Session | None = None) -> None:
    """Train one model as ``config`` says; ``session`` None means "I am a Ray Train worker" (which gets its
    config as Ray Train passes it, a dict).

    Sweep trials show no dataset table or epoch lines (``console.show_run_progress``): the sweep console
    reports them.
    """
    quiet_libraries(ray_info=run_progress_shown())  # again: Lightning, imported now, set its own levels
    cfg = config if isinstance(config, Config) else Config.from_dict(config)
    if cfg.trainer.accelerator == "auto" or cfg.trainer.precision == "auto":
        cfg = resolve_devices(cfg, local_gpus())  # callers on Ray resolve from the cluster first
    distributed = session is None
    session = session or RayTrainSession()
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    data = ImageDataModule(cfg.data, resolve_root(cfg.data), cfg.trainer.test_curve)
    weights = inverse_frequency(data.class_counts()) if cfg.loss.class_weights else None
    model = Classifier(cfg.to_dict(), data.classes, weights)
    trainer = _trainer(cfg, _callbacks(cfg, session), distributed, session.interactive)
    with session.resume_from() as checkpoint:
        if checkpoint is not None and session.world_rank == 0:
            run_log.info(f"resuming from {checkpoint}")
        # weights_only: a checkpoint holds tensors and plain values only; nothing in it may run code.
        trainer.fit(model, datamodule=data, ckpt_path=str(checkpoint) if checkpoint else None, weights_only=True)


def _callbacks(cfg: Config, session: Session) -> list[L.Callback]:
    guard = DivergenceGuard()
    report = ReportCheckpoint(session, guard, cfg.trainer.plots)
    callbacks: list[L.Callback] = [EpochLog(), guard, RngState(), report]
    if cfg.trainer.early_stopping_patience is not None:
        from lightning.pytorch.callbacks import EarlyStopping

        patience = cfg.trainer.early_stopping_patience
        callbacks.append(EarlyStopping(monitor=cfg.search.metric, mode=cfg.search.mode, patience=patience))
    ema = ema_callback(cfg.ema)
    if ema is not None:
        callbacks.append(ema)
    return callbacks


class Unprofiled(Profiler):
    """Lightning wraps every hook call, some 50 a training step, in ``profiler.profile(name)``; its default
    pass-through profiler still enters and leaves a generator-based context manager each time. This one hands
    back one shared empty context (docs/performance.md: host time per step)."""

    _nothing: AbstractContextManager[None] = nullcontext()

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass

    def profile(self, action_name: str) -> AbstractContextManager[None]:  # type: ignore[override]
        return self._nothing


def _trainer(cfg: Config, callbacks: list[L.Callback], distributed: bool, interactive: bool) -> L.Trainer:
    plugins: list[Any] = [LocalFileCheckpointIO()]
    strategy: Any = "auto"
    if distributed:
        from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment

        plugins.append(RayLightningEnvironment())
        strategy = RayDDPStrategy()
    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        accelerator=cfg.trainer.accelerator,
        devices="auto" if distributed else 1,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.trainer.gradient_clip_val,
        accumulate_grad_batches=cfg.trainer.accumulate_grad_batches,
        deterministic=cfg.trainer.deterministic,
        limit_train_batches=_limit(cfg.trainer.limit_train_batches),
        limit_val_batches=_limit(cfg.trainer.limit_val_batches),
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=True,  # our ReportCheckpoint is the checkpoint callback
        enable_progress_bar=cfg.trainer.progress_bar and interactive,
        enable_model_summary=False,  # EpochLog prints a one-line model summary
        num_sanity_val_steps=0,
        profiler=Unprofiled(),
        plugins=plugins,
        strategy=strategy,
    )
    if distributed:
        from ray.train.lightning import prepare_trainer

        trainer = prepare_trainer(trainer)
    return trainer


def _limit(value: float) -> float | int:
    """Lightning reads a float as a fraction and an int as a batch count."""
    return int(value) if value > 1 else float(value)
