"""ImageFolder files on disk: scanning with checks, and decoding any image to RGB.

Layout: ``root/train/<class>/*``, ``root/val/<class>/*`` and an optional ``root/test/<class>/*``.
Classes come from ``train`` (sorted); ``val``/``test`` may hold a subset of them. Nothing here imports
torch, so drivers can check a dataset in milliseconds before anything heavy starts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

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


def inverse_frequency(counts: list[int]) -> list[float]:
    """Class weights N / (C * n_c): 1.0 for every class of a balanced dataset."""
    total, num_classes = sum(counts), len(counts)
    return [total / (num_classes * n) if n else 0.0 for n in counts]


@dataclass(frozen=True)
class DatasetIndex:
    """The classes and the files of every split present."""

    root: Path
    classes: list[str]
    splits: dict[str, Split]

    def class_counts(self, split: str = "train") -> list[int]:
        return self.splits[split].class_counts(len(self.classes))


def scan_dataset(root: Path) -> DatasetIndex:
    """Check the layout and list every image; raises DataError naming the folder and the fix."""
    if not root.is_dir():
        raise DataError(f"dataset root {root} does not exist; set data.root to an ImageFolder folder")
    classes = find_classes(root / "train")
    splits: dict[str, Split] = {}
    for name in SPLITS:
        split_dir = root / name
        if split_dir.is_dir():
            splits[name] = scan_split(split_dir, classes)
        elif name != "test":
            raise DataError(f"{split_dir} does not exist; the dataset root needs {name}/<class>/ folders")
    return DatasetIndex(root, classes, splits)


def unreadable_images(index: DatasetIndex) -> list[str]:
    """Files whose header PIL cannot read (not an image at all, empty, wrong extension).

    Opening reads only the header (~50 us a file), so every file is checked before training starts; a
    file damaged past its header still fails when first decoded, naming the file.
    """
    bad = []
    for split in index.splits.values():
        for path, _ in split.samples:
            try:
                with Image.open(path) as img:
                    img.size  # noqa: B018 - parsing the header is the check
            except (OSError, ValueError, Image.DecompressionBombError):
                bad.append(path)
    return bad
