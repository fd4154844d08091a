"""Images as uint8 pixels: decoded per use, or once per node into a shared memory-mapped store.

Every image is decoded to RGB and, when its short side is longer than ``stored_size(image_size)``
(image_size / 0.875, the classic 256 for 224), scaled down to it: training crops and evaluation resizes
are made from that. Both sources below apply exactly this, so ``data.cache: decoded`` changes speed,
never results.

The store (``data.cache: decoded``): one flat ``pixels.u8`` file plus an index of (offset, height,
width) per image, under ``<data.cache_dir>/decoded/<key>/``. The key covers every file's name, size and
mtime and the stored size, so a changed dataset is never read stale. It is built once per node under a
file lock; trials and DataLoader workers that start meanwhile wait for it (the build is one decode pass,
which a waiting trial would otherwise do itself, more slowly, while competing for the same cores), then
map it read-only and share the page cache.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rayjob.data.files import Split, load_rgb

FORMAT = "decoded-v1"
_DONE = ".complete"


def stored_size(image_size: int) -> int:
    return math.ceil(image_size / 0.875)


def prepare(image: Image.Image, limit: int) -> np.ndarray:
    """(H, W, 3) uint8 pixels, the short side scaled down to ``limit`` when it is longer."""
    short = min(image.size)
    if short > limit:
        scale = limit / short
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR, reducing_gap=None)  # fmt: skip
    return np.array(image, dtype=np.uint8)  # a writable copy: torch warns on read-only arrays


def decode(path: str, limit: int) -> np.ndarray:
    return prepare(load_rgb(path), limit)


class FileSource:
    """Decodes each image from its file every time it is read (``data.cache: none``)."""

    def __init__(self, split: Split, limit: int) -> None:
        self.paths = [path for path, _ in split.samples]
        self.limit = limit

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return decode(self.paths[index], self.limit)


class CachedSource:
    """Reads pixels from a built store; maps it lazily, so DataLoader workers open their own view."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = np.load(folder / "index.npy")
        self._pixels: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}  # never pickle the mapped pixels into a worker

    def __getitem__(self, index: int) -> np.ndarray:
        if self._pixels is None:
            self._pixels = np.memmap(self.folder / "pixels.u8", dtype=np.uint8, mode="r")
        offset, height, width = (int(v) for v in self.index[index])
        return np.array(self._pixels[offset : offset + height * width * 3]).reshape(height, width, 3)


@dataclass(frozen=True)
class CacheInfo:
    folder: Path
    built: bool  # False: reused from an earlier run or trial on this node
    images: int
    megabytes: float
    seconds: float  # building (or waiting for) it


def cache_key(split: Split, limit: int) -> str:
    """Changes with any file's name, size or mtime, and with the stored size."""
    digest = hashlib.sha1(f"{FORMAT}:{limit}:{split.name}".encode())
    for path, label in split.samples:
        stat = os.stat(path)
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def open_cache(split: Split, limit: int, cache_dir: Path) -> tuple[CachedSource, CacheInfo]:
    """This node's store for ``split``, built on first use (under a lock) and reused afterwards."""
    from filelock import FileLock

    folder = cache_dir / "decoded" / cache_key(split, limit)
    started = time.perf_counter()
    built = False
    if not (folder / _DONE).exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not (folder / _DONE).exists():  # nobody built it while we waited
                build(split, limit, folder)
                built = True
    source = CachedSource(folder)
    size = (folder / "pixels.u8").stat().st_size / 2**20
    return source, CacheInfo(folder, built, len(source), size, time.perf_counter() - started)


def build(split: Split, limit: int, folder: Path) -> None:
    """Decode every image once into a staging folder, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        index = np.zeros((len(split.samples), 3), dtype=np.int64)
        offset = 0
        with open(staging / "pixels.u8", "wb") as out:
            for i, (path, _) in enumerate(split.samples):
                pixels = decode(path, limit)
                out.write(pixels.tobytes())
                index[i] = (offset, pixels.shape[0], pixels.shape[1])
                offset += pixels.size
        np.save(staging / "index.npy", index)
        (staging / _DONE).write_text(f"{FORMAT} {len(split.samples)} images\n")
        shutil.rmtree(folder, ignore_errors=True)  # a leftover without its marker
        os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
