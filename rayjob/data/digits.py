"""The embedded default dataset: scikit-learn's digits, written once as an ImageFolder.

1,797 real 8x8 grayscale images of 10 classes ship inside scikit-learn, so nothing is downloaded.
They are written as PNG files under ``<cache_dir>/digits-v1/{train,val,test}/<digit>/`` and then
read by the same ImageFolder code as any user dataset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

DATASET_NAME = "digits-v1"
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
SEED = 0
_DONE_MARKER = ".complete"


def ensure_digits(cache_dir: Path) -> Path:
    """Write the digits ImageFolder under ``cache_dir`` unless it is already there; return its root.

    Written to a temporary sibling and renamed into place, so concurrent workers never see half a dataset.
    """
    root = cache_dir / DATASET_NAME
    if (root / _DONE_MARKER).exists():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DATASET_NAME}-", dir=cache_dir))
    try:
        _write_digits(staging)
        (staging / _DONE_MARKER).touch()
        try:
            os.rename(staging, root)
        except OSError:
            if not (root / _DONE_MARKER).exists():  # a leftover incomplete folder: replace it
                shutil.rmtree(root, ignore_errors=True)
                os.rename(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _write_digits(root: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).round().astype(np.uint8)
    labels = digits.target
    rng = np.random.default_rng(SEED)
    for label in np.unique(labels):
        # Stratified split: each class is divided by the same fractions.
        indices = rng.permutation(np.flatnonzero(labels == label))
        n_train = round(len(indices) * SPLIT_FRACTIONS["train"])
        n_val = round(len(indices) * SPLIT_FRACTIONS["val"])
        parts = {
            "train": indices[:n_train],
            "val": indices[n_train : n_train + n_val],
            "test": indices[n_train + n_val :],
        }
        for split, members in parts.items():
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for index in members:
                Image.fromarray(images[index], mode="L").save(folder / f"{index:04d}.png")
