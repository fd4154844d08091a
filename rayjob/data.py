"""ImageFolder data: scanning, image decoding, augmentation presets, class weights, loaders.

Layout: ``root/train/<class>/*``, ``root/val/<class>/*`` and an optional ``root/test/<class>/*``.
Classes come from ``train`` (sorted); ``val``/``test`` may hold a subset of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from rayjob.config import DataConfig
from rayjob.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split's files: ``samples`` holds (path, class index) pairs."""

    name: str
    samples: list[tuple[str, int]]

    def class_counts(self, num_classes: int) -> list[int]:
        counts = Counter(label for _, label in self.samples)
        return [counts.get(i, 0) for i in range(num_classes)]


def find_classes(train_dir: Path) -> list[str]:
    """Sorted class names: the sub-folders of ``train``."""
    if not train_dir.is_dir():
        raise DataError(f"{train_dir} does not exist; the dataset root needs train/<class>/ folders")
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"{train_dir} has {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
            "a classifier needs at least 2: put each class's images in train/<class>/"
        )
    return classes


def scan_split(split_dir: Path, classes: list[str]) -> Split:
    """List the images of one split; every class folder must be a known class and hold images."""
    class_to_idx = {name: i for i, name in enumerate(classes)}
    folders = sorted(d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    unknown = [d.name for d in folders if d.name not in class_to_idx]
    if unknown:
        raise DataError(
            f"{split_dir} has class folder(s) not in train/: {', '.join(unknown)}; "
            f"rename or remove them, or add them to train/ (train classes: {', '.join(classes)})"
        )
    samples: list[tuple[str, int]] = []
    for folder in folders:
        files = sorted(str(f) for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(
                f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add images or remove it"
            )
        samples.extend((f, class_to_idx[folder.name]) for f in files)
    return Split(split_dir.name, samples)


def load_rgb(path: str) -> Image.Image:
    """Decode any image as 8-bit RGB: grayscale, 16-bit, RGBA (onto white) and palette images too."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb(img)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read image {path}: {err}; remove or replace the file") from None


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # PIL's convert("RGB") clips these wide modes at 255; rescale to 8 bits instead.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max()), 1e-12)
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("RGB")


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


def train_transform(cfg: DataConfig) -> v2.Compose:
    """The augmentation preset named by ``cfg.augment``, then normalization (and random erasing)."""
    size = cfg.image_size
    steps: list[Callable] = []
    if cfg.augment == "none":
        steps += [v2.Resize(size), v2.CenterCrop(size)]
    else:
        steps += [v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip()]
        if cfg.augment == "trivialaugment":
            steps.append(v2.TrivialAugmentWide())
        elif cfg.augment == "randaugment":
            steps.append(v2.RandAugment(magnitude=cfg.randaugment_magnitude))
    steps += _to_normalized_tensor(cfg)
    if cfg.random_erasing > 0:
        steps.append(v2.RandomErasing(p=cfg.random_erasing))
    return v2.Compose(steps)


def eval_transform(cfg: DataConfig) -> v2.Compose:
    """Resize the short side, center crop, normalize: what validation, export and predict use."""
    return v2.Compose([v2.Resize(cfg.image_size), v2.CenterCrop(cfg.image_size), *_to_normalized_tensor(cfg)])


def _to_normalized_tensor(cfg: DataConfig) -> list[Callable]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)]


def inverse_frequency(counts: list[int]) -> list[float]:
    """Class weights N / (C * n_c): 1.0 for every class of a balanced dataset."""
    total, num_classes = sum(counts), len(counts)
    return [total / (num_classes * n) if n else 0.0 for n in counts]


class ImageDataModule(L.LightningDataModule):
    """Scans the dataset at construction (cheap) so classes and counts are known before the model."""

    def __init__(self, cfg: DataConfig, root: Path) -> None:
        super().__init__()
        self.cfg = cfg
        self.root = root
        if not root.is_dir():
            raise DataError(f"dataset root {root} does not exist; set data.root to an ImageFolder folder")
        self.classes = find_classes(root / "train")
        self.splits: dict[str, Split] = {}
        for name in SPLITS:
            split_dir = root / name
            if split_dir.is_dir():
                self.splits[name] = scan_split(split_dir, self.classes)
            elif name != "test":
                raise DataError(f"{split_dir} does not exist; the dataset root needs {name}/<class>/ folders")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> list[int]:
        return self.splits[split].class_counts(self.num_classes)

    def train_dataloader(self) -> DataLoader:
        dataset = ImageDataset(self.splits["train"], train_transform(self.cfg))
        sampler = None
        if self.cfg.weighted_sampler:
            class_weight = inverse_frequency(self.class_counts("train"))
            weights = [class_weight[label] for _, label in self.splits["train"].samples]
            sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True)
        return self._loader(dataset, shuffle=sampler is None, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(ImageDataset(self.splits["val"], eval_transform(self.cfg)), shuffle=False)

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
