"""``train_loop``: the one training function every entry point calls.

It builds data, model, EMA and a Lightning ``Trainer`` from a config dict, resumes from the session's
checkpoint when there is one, and reports metrics plus a checkpoint every epoch.

- Under ``TorchTrainer`` (Ray Train workers) it is called as ``train_loop(config)``: Ray's DDP
  strategy, cluster environment and ``prepare_trainer`` are used and reports go to Ray Train.
- In-process (``scaling.num_workers: 0``) the caller passes a session (see ``rayjob.sessions``) and a
  plain single-device Lightning strategy is used, so breakpoints work.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from rayjob.callbacks import DivergenceGuard, EpochLog, LocalFileCheckpointIO, ReportCheckpoint
from rayjob.config import Config
from rayjob.console import say
from rayjob.data import ImageDataModule
from rayjob.dataset import inverse_frequency
from rayjob.datasource import resolve_root
from rayjob.ema import ema_callback
from rayjob.faults import KillWorkerOnce, fault_marker
from rayjob.module import Classifier
from rayjob.sessions import RayTrainSession, Session


def train_loop(config: dict[str, Any], session: Session | None = None) -> None:
    """Train one model as ``config`` says; ``session`` None means "I am a Ray Train worker"."""
    cfg = Config.from_dict(config)
    distributed = session is None
    session = session or RayTrainSession()
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    data = ImageDataModule(cfg.data, resolve_root(cfg.data))
    weights = inverse_frequency(data.class_counts()) if cfg.loss.class_weights else None
    model = Classifier(cfg.to_dict(), data.classes, weights)

    guard = DivergenceGuard()
    callbacks: list[L.Callback] = [EpochLog(), guard, ReportCheckpoint(session, plots=cfg.trainer.plots, guard=guard)]
    if cfg.trainer.fault_kill_at_epoch is not None:
        callbacks.append(KillWorkerOnce(cfg.trainer.fault_kill_at_epoch, fault_marker(cfg)))
    if cfg.trainer.early_stopping_patience is not None:
        from lightning.pytorch.callbacks import EarlyStopping

        patience = cfg.trainer.early_stopping_patience
        callbacks.append(EarlyStopping(monitor=cfg.search.metric, mode=cfg.search.mode, patience=patience))
    ema = ema_callback(cfg.ema)
    if ema is not None:
        callbacks.append(ema)

    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        accelerator=resolve_accelerator(cfg),
        devices="auto" if distributed else 1,
        precision=resolve_precision(cfg),
        gradient_clip_val=cfg.trainer.gradient_clip_val,
        accumulate_grad_batches=cfg.trainer.accumulate_grad_batches,
        deterministic=cfg.trainer.deterministic,
        limit_train_batches=_limit(cfg.trainer.limit_train_batches),
        limit_val_batches=_limit(cfg.trainer.limit_val_batches),
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=True,  # our ReportCheckpoint is the checkpoint callback
        enable_progress_bar=cfg.trainer.progress_bar and session.interactive,
        enable_model_summary=False,  # EpochLog prints a one-line model summary
        num_sanity_val_steps=0,
        plugins=[LocalFileCheckpointIO(), *_ray_plugins(distributed)],
        strategy=_ray_strategy(distributed),
    )
    if distributed:
        from ray.train.lightning import prepare_trainer

        trainer = prepare_trainer(trainer)

    with session.resume_from() as checkpoint:
        if checkpoint is not None and session.world_rank == 0:
            say(f"resuming from {checkpoint}")
        # weights_only: a checkpoint holds tensors and plain values only; nothing in it may run code.
        trainer.fit(model, datamodule=data, ckpt_path=str(checkpoint) if checkpoint else None, weights_only=True)


def resolve_accelerator(cfg: Config) -> str:
    if cfg.trainer.accelerator == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return cfg.trainer.accelerator


def resolve_precision(cfg: Config) -> str:
    """``auto``: 16-bit mixed precision on a GPU (T4 tensor cores), full precision on CPU."""
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    return "16-mixed" if resolve_accelerator(cfg) == "gpu" else "32-true"


def _limit(value: float) -> float | int:
    """Lightning reads a float as a fraction and an int as a batch count."""
    return int(value) if value > 1 else float(value)


def _ray_strategy(distributed: bool) -> Any:
    if not distributed:
        return "auto"
    from ray.train.lightning import RayDDPStrategy

    return RayDDPStrategy()


def _ray_plugins(distributed: bool) -> list[Any]:
    if not distributed:
        return []
    from ray.train.lightning import RayLightningEnvironment

    return [RayLightningEnvironment()]
