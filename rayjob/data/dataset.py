"""The Dataset of one split and evaluation batches: torch only, no Lightning.

The sweep's post-hook (held-out evaluation, ONNX checks) runs in the driver, which need not import
Lightning (and the torchmetrics chain it pulls in: 2.4 s here) for a plain forward pass over a split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rayjob.config import DataSection
from rayjob.data.decoded import CachedSource, FileSource, stored_size
from rayjob.data.files import Split
from rayjob.data.transforms import eval_transform

Batch = tuple[torch.Tensor, torch.Tensor]
PixelSource = FileSource | CachedSource


class ImageDataset(Dataset):
    """(image tensor, class index) pairs of one split; pixels from ``source`` (decoded files or the cache)."""

    def __init__(self, split: Split, transform: Callable[[np.ndarray], torch.Tensor], source: PixelSource) -> None:
        self.split = split
        self.transform = transform
        self.source = source

    def __len__(self) -> int:
        return len(self.split.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.source[index]), self.split.samples[index][1]


def eval_batches(cfg: DataSection, split: Split, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
    """Batches of one split through the evaluation transform, in order; ``limit`` picks evenly spaced
    images (so a small check set still covers every class of a class-sorted split)."""
    if limit is not None and limit < len(split.samples):
        step = len(split.samples) / limit
        split = Split(split.name, [split.samples[int(i * step)] for i in range(limit)])
    source = FileSource(split, stored_size(cfg.image_size))
    loader = DataLoader(ImageDataset(split, eval_transform(cfg), source), batch_size=batch_size, shuffle=False)
    return iter(loader)
