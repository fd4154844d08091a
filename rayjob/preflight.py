"""Checks run in the driver before anything heavy starts, so user errors surface in seconds.

Imports no torch, Lightning or Ray: a bad config or dataset fails before those load.
"""

from __future__ import annotations

from rayjob.config import Config
from rayjob.dataset import DatasetIndex, scan_dataset
from rayjob.datasource import check_remote_layout, is_uri, resolve_root
from rayjob.models import check_backbone


def check_config_and_data(cfg: Config) -> DatasetIndex | None:
    """Fail fast on an unknown backbone or an unusable dataset; returns the scanned local dataset."""
    check_backbone(cfg.model.backbone)
    if cfg.data.root is not None and is_uri(cfg.data.root):
        check_remote_layout(cfg.data.root)  # workers download it; the driver only looks
        return None
    return scan_dataset(resolve_root(cfg.data))
