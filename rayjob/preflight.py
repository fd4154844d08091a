"""Checks run in the driver before anything heavy starts, so user errors surface in seconds."""

from __future__ import annotations

from rayjob.config import Config
from rayjob.data import ImageDataModule
from rayjob.digits import resolve_root
from rayjob.models import check_backbone


def check_config_and_data(cfg: Config) -> ImageDataModule:
    """Fail fast on an unknown backbone or an unusable dataset; returns the scanned dataset."""
    check_backbone(cfg.model.backbone)
    return ImageDataModule(cfg.data, resolve_root(cfg.data))
