"""Checks run in the driver before anything heavy starts, so user errors surface in seconds.

Imports no torch, Lightning or Ray: a bad config or dataset fails before those load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rayjob.config import Config
from rayjob.data.files import DatasetIndex, scan_dataset, unreadable_images
from rayjob.data.sources import check_remote_layout, resolve_root
from rayjob.errors import ConfigError, DataError
from rayjob.model.backbones import check_backbone
from rayjob.storage import StorageError, delete, is_uri, join, write_text


def check_config_and_data(cfg: Config) -> DatasetIndex | None:
    """Fail fast on an unknown backbone, an unwritable storage path or an unusable dataset."""
    check_backbone(cfg.model.backbone)
    check_dashboard(cfg)
    check_writable(cfg.run.storage_path)
    if cfg.data.root is not None and is_uri(cfg.data.root):
        check_remote_layout(cfg.data.root)  # workers download it; the driver only looks
        return None
    index = scan_dataset(resolve_root(cfg.data))
    bad = unreadable_images(index)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise DataError(f"{len(bad)} file(s) in {index.root} are not readable images: {shown}; remove or replace them")  # noqa: E501
    return index


# Below this many optimizer steps a run barely learns. Camera-digits, 6 epochs of cnn_small (one run each, val
# top-1): 24 steps 0.15, 48 steps 0.18, 96 steps 0.42, 192 steps 0.70, 372 steps 0.84; the same without EMA
# within 0.02 of each (docs/performance.md).
MIN_OPTIMIZER_STEPS = 100


def optimizer_steps(cfg: Config, train_images: int) -> int:
    """How many optimizer steps the run makes: epochs x batches per epoch (per worker, as limited) / accumulation."""
    per_worker = train_images // max(1, cfg.scaling.num_workers)
    batches = per_worker // cfg.data.batch_size if per_worker > cfg.data.batch_size else 1  # drop_last when it can
    limit = cfg.trainer.limit_train_batches
    batches = min(batches, int(limit)) if limit > 1 else max(1, int(batches * limit))
    return cfg.trainer.max_epochs * max(1, batches // cfg.trainer.accumulate_grad_batches)


def short_run_warning(cfg: Config, index: DatasetIndex | None) -> str | None:
    """One line when the run is too short to learn much (too few optimizer steps), with the fix; else None."""
    if index is None:  # a URI dataset: the driver does not count its images
        return None
    images = sum(index.class_counts("train"))
    steps = optimizer_steps(cfg, images)
    if steps >= MIN_OPTIMIZER_STEPS:
        return None
    return (f"{cfg.trainer.max_epochs} epochs of {images} training images in batches of "
            f"{cfg.data.batch_size} make only {steps} optimizer steps; under {MIN_OPTIMIZER_STEPS} a model barely "
            f"learns (on camera-digits 48 steps stayed near chance): raise trainer.max_epochs or lower "
            f"data.batch_size")  # fmt: skip


def check_dashboard(cfg: Config) -> None:
    """Ray Train workers hang without the dashboard (``rayjob.ray_cluster.dashboard_wanted``)."""
    if cfg.run.ray_dashboard == "off" and cfg.scaling.num_workers >= 1:
        raise ConfigError(
            f"run.ray_dashboard=off with scaling.num_workers={cfg.scaling.num_workers}: Ray Train cleans up its "
            "workers through the dashboard, and without it later runs wait forever; use run.ray_dashboard=auto "
            "(on for Ray Train workers) or scaling.num_workers=0"
        )


def check_writable(storage_path: str) -> None:
    """The storage path must be writable: a local folder is created, a URI gets a small probe file."""
    if is_uri(storage_path):
        probe = join(storage_path, ".rayjob-write-check")
        try:
            write_text(probe, "rayjob checks that it can write here\n")
            delete(probe)
        except StorageError as err:
            raise ConfigError(f"run.storage_path {storage_path} is not writable: {err}") from None
        return
    folder = Path(storage_path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rayjob-write-check-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"run.storage_path {folder} is not writable ({err.strerror or err}); choose a folder you can write"
        ) from None
