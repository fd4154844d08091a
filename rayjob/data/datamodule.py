"""Tensors for training: the Dataset and the LightningDataModule.

Files are found and checked by ``rayjob.data.files``; transforms live in ``rayjob.data.transforms``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from rayjob.config import DataConfig
from rayjob.data.files import Split, inverse_frequency, load_rgb, scan_dataset
from rayjob.data.transforms import eval_transform, train_transform

Batch = tuple[torch.Tensor, torch.Tensor]


class ImageDataset(Dataset):
    """(image tensor, class index) pairs of one split."""

    def __init__(self, split: Split, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.split.samples[index]
        return self.transform(load_rgb(path)), label


class ImageDataModule(L.LightningDataModule):
    """Scans the dataset at construction (cheap) so classes and counts are known before the model."""

    def __init__(self, cfg: DataConfig, root: Path) -> None:
        super().__init__()
        self.cfg = cfg
        self.index = scan_dataset(root)
        self.classes = self.index.classes
        self.splits = self.index.splits

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> list[int]:
        return self.index.class_counts(split)

    def train_dataloader(self) -> DataLoader:
        dataset = ImageDataset(self.splits["train"], train_transform(self.cfg))
        sampler = None
        if self.cfg.weighted_sampler:
            class_weight = inverse_frequency(self.class_counts("train"))
            weights = [class_weight[label] for _, label in self.splits["train"].samples]
            sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True)
        return self._loader(dataset, shuffle=sampler is None, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(ImageDataset(interleaved(self.splits["val"]), eval_transform(self.cfg)), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        split = self.splits.get("test", self.splits["val"])
        return self._loader(ImageDataset(split, eval_transform(self.cfg)), shuffle=False)

    def _loader(self, dataset: ImageDataset, shuffle: bool, **kwargs) -> DataLoader:
        drop_last = kwargs.pop("drop_last", False) and len(dataset) > self.cfg.batch_size
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            num_workers=self.cfg.num_workers,
            pin_memory=self.cfg.pin_memory,
            persistent_workers=self.cfg.persistent_workers and self.cfg.num_workers > 0,
            drop_last=drop_last,
            **kwargs,
        )


def interleaved(split: Split) -> Split:
    """The same samples in a fixed mixed order (class-sorted folders would put one class in batch 0,
    which is the batch the sample grid shows)."""
    order = np.random.default_rng(0).permutation(len(split.samples))
    return Split(split.name, [split.samples[i] for i in order])


def eval_batches(cfg: DataConfig, split: Split, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
    """Batches of one split through the evaluation transform, in order; ``limit`` picks evenly spaced
    images (so a small check set still covers every class of a class-sorted split)."""
    if limit is not None and limit < len(split.samples):
        step = len(split.samples) / limit
        split = Split(split.name, [split.samples[int(i * step)] for i in range(limit)])
    loader = DataLoader(ImageDataset(split, eval_transform(cfg)), batch_size=batch_size, shuffle=False)
    return iter(loader)
