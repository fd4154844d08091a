"""The embedded datasets: generated offline from installed packages, written once as an ImageFolder.

Nothing is downloaded (scikit-learn ships 1,797 real 8x8 digits; PIL draws the shapes). With
``data.root: null``, ``data.embedded`` picks what is written under ``<cache_dir>/<name>/{train,val,test}/``,
then read by the same ImageFolder code as any user dataset:

- ``camera-digits`` (the default): the digits as camera crops, few originals to learn from, a 1,147-image
  test split (``rayjob.data.camera_digits``). Settings matter here: the quickstart's sweep has something to find.
- ``camera-shapes``: ten small printed symbols (disc, ring, square, frame, diamond, triangle, plus, cross, star,
  hexagon) photographed by the same camera (``rayjob.data.camera_shapes``): a task of another character, so
  the search's settings are not tuned to digits alone. Made from PIL drawing, nothing from scikit-learn.
- ``digits``: the plain 8x8 digits, split 70/15/15 per class. Every reasonable config saturates it (val 1.0);
  fast tests use it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from rayjob.data.camera_digits import DATASET_NAME as CAMERA_DIGITS
from rayjob.data.camera_digits import write_camera_digits
from rayjob.data.camera_shapes import DATASET_NAME as CAMERA_SHAPES
from rayjob.data.camera_shapes import write_camera_shapes

PLAIN_DIGITS = "digits-v1"
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
SEED = 0
_DONE_MARKER = ".complete"


def _write_plain_digits(root: Path) -> None:
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


# data.embedded -> (folder name, versioned: a change of content gets a new name; writer)
EMBEDDED: dict[str, tuple[str, Callable[[Path], None]]] = {
    "camera-digits": (CAMERA_DIGITS, write_camera_digits),
    "camera-shapes": (CAMERA_SHAPES, write_camera_shapes),
    "digits": (PLAIN_DIGITS, _write_plain_digits),
}
DESCRIPTIONS = {
    "camera-digits": "embedded camera-digits (scikit-learn digits as camera crops)",
    "camera-shapes": "embedded camera-shapes (ten printed symbols as camera crops)",
    "digits": "embedded digits (scikit-learn)",
}


def ensure_embedded(name: str, cache_dir: Path) -> Path:
    """Write the embedded dataset ``name`` under ``cache_dir`` unless it is already there; return its root.

    Written to a temporary sibling and renamed into place, so concurrent workers never see half a dataset.
    """
    folder, write = EMBEDDED[name]
    root = cache_dir / folder
    if (root / _DONE_MARKER).exists():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=cache_dir))
    try:
        write(staging)
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


def ensure_digits(cache_dir: Path) -> Path:
    """The plain digits (what fast tests train on)."""
    return ensure_embedded("digits", cache_dir)
