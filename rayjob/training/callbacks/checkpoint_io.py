"""Checkpoint files written straight to disk, then renamed into place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class LocalFileCheckpointIO(TorchCheckpointIO):
    """``torch.save`` straight into the (local, staging) file, then an atomic rename.

    Lightning's default serializes the whole checkpoint into memory first and then writes it through
    fsspec: measured here at ~1.4 s instead of ~0.3 s per epoch for a 340 MB resnet34 checkpoint.
    Ray copies the finished folder to the run's storage, which may be remote.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        torch.save(checkpoint, partial)
        os.replace(partial, target)
