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


def check_dashboard(cfg: Config) -> None:
    """Ray Train workers hang without the dashboard (``rayjob.training.launch.dashboard_wanted``)."""
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
