"""Tensors for training: the LightningDataModule (samplers, loaders, the decoded-image cache).

Files are found and checked by ``rayjob.data.files``; transforms live in ``rayjob.data.transforms``; the
Dataset and evaluation batches in ``rayjob.data.dataset``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, WeightedRandomSampler

from rayjob.config import DataSection
from rayjob.data.dataset import ImageDataset, PixelSource
from rayjob.data.decoded import CacheInfo, FileSource, open_cache, stored_size
from rayjob.data.device_augment import device_input_transform
from rayjob.data.files import Split, inverse_frequency, scan_dataset
from rayjob.data.transforms import eval_transform, train_transform


class ImageDataModule(L.LightningDataModule):
    """Scans the dataset at construction (cheap) so classes and counts are known before the model."""

    def __init__(self, cfg: DataSection, root: Path, test_curve: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.test_curve = test_curve  # validation also runs on the test split (trainer.test_curve)
        self.index = scan_dataset(root)
        self.classes = self.index.classes
        self.splits = {**self.index.splits, "val": interleaved(self.index.splits["val"])}
        self.limit = stored_size(cfg.image_size)
        self.sources: dict[str, PixelSource] = {}
        self.cache_info: dict[str, CacheInfo] = {}  # per split, when data.cache is decoded

    def setup(self, stage: str) -> None:
        """Build or open this node's decoded-image cache before training starts (so the dataset table
        can say which it was); without the cache, images are decoded as they are read."""
        for name in ("train", "val"):
            self.source(name)

    def source(self, name: str) -> PixelSource:
        if name not in self.sources:
            split = self.splits[name]
            if self.cfg.cache == "decoded":
                cache_dir = Path(self.cfg.cache_dir).expanduser()
                self.sources[name], self.cache_info[name] = open_cache(split, self.limit, cache_dir)
            else:
                self.sources[name] = FileSource(split, self.limit)
        return self.sources[name]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> list[int]:
        return self.index.class_counts(split)

    def train_dataloader(self) -> DataLoader:
        transform = train_transform(self.cfg) if self.cfg.augment_on == "cpu" else device_input_transform(self.cfg)
        dataset = ImageDataset(self.splits["train"], transform, self.source("train"))
        sampler = None
        if self.cfg.weighted_sampler:
            class_weight = inverse_frequency(self.class_counts("train"))
            weights = [class_weight[label] for _, label in self.splits["train"].samples]
            sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True)
        return self._loader(dataset, shuffle=sampler is None, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        dataset = ImageDataset(self.splits["val"], eval_transform(self.cfg), self.source("val"))
        if self.test_curve and "test" in self.splits:
            return [self._loader(dataset, shuffle=False), self.test_dataloader()]
        return self._loader(dataset, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        split = self.splits.get("test", self.splits["val"])
        return self._loader(ImageDataset(split, eval_transform(self.cfg), FileSource(split, self.limit)), shuffle=False)

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
