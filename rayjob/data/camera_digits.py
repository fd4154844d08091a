"""The default embedded dataset: scikit-learn's digits rendered as camera crops, few originals to learn from.

The plain digits (``rayjob.data.digits``) saturate: every reasonable config reaches val 1.0000, so a sweep
has nothing to find. Here each 8x8 original is drawn the way a jersey number or a house number reaches a
classifier: upscaled, rotated, sheared and shifted on a 32x32 crop, ink and paper in random colours (light
on dark too), a clipped piece of a neighbouring digit at the edge, then blur, a lower resolution, sensor
noise and JPEG compression, each of random strength. Train has 25 originals a class, each drawn 8 times;
val and test draw each original once, so their images are independent and a binomial standard error holds.
The split is by original: no original (and no neighbour fragment) appears in two splits.

Everything is generated offline from scikit-learn's bundled data with a fixed seed, written once as an
ImageFolder under ``<cache_dir>/camera-digits-v1`` and read back by the same loading code as user data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rayjob.data.camera import SIZE, photographed, to_uint8

DATASET_NAME = "camera-digits-v1"
TRAIN_ORIGINALS = 25  # per class
VAL_ORIGINALS = 40  # per class; the rest of each class (109-118) goes to test: 1,147 test images
TRAIN_DRAWS = 8  # renderings of each training original
SEED = 0


def write_camera_digits(root: Path) -> None:
    """Render the three splits as PNG files under ``root/{train,val,test}/<digit>/``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    glyphs = digits.images / 16.0  # (n, 8, 8) ink coverage in [0, 1]
    labels = digits.target
    rng = np.random.default_rng(SEED)
    splits: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label)).tolist()
        splits["train"] += members[:TRAIN_ORIGINALS]
        splits["val"] += members[TRAIN_ORIGINALS : TRAIN_ORIGINALS + VAL_ORIGINALS]
        splits["test"] += members[TRAIN_ORIGINALS + VAL_ORIGINALS :]
    for split, members in splits.items():
        draws = TRAIN_DRAWS if split == "train" else 1
        for index in members:
            folder = root / split / str(labels[index])
            folder.mkdir(parents=True, exist_ok=True)
            for draw in range(draws):
                neighbour = glyphs[members[int(rng.integers(len(members)))]]  # same split: nothing leaks
                pixels = render(glyphs[index], neighbour, rng)
                Image.fromarray(pixels).save(folder / f"{index:04d}-{draw}.png")


def render(glyph: np.ndarray, neighbour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One camera-like crop of ``glyph`` (8x8 in [0, 1]) as (SIZE, SIZE, 3) uint8 pixels."""
    ink = _placed(glyph, rng, scale=rng.uniform(0.7, 1.1), shift=rng.uniform(-3, 3, size=2))
    if rng.random() < 0.5:  # a clipped piece of the next digit on the crop's left or right edge
        side = rng.choice([-1.0, 1.0])
        shift = (side * rng.uniform(19, 25), 0.0)
        ink = np.maximum(ink, _placed(neighbour, rng, scale=rng.uniform(0.7, 1.1), shift=shift))
    return photographed(ink, rng)


def _placed(glyph: np.ndarray, rng: np.random.Generator, scale: float, shift: Any) -> np.ndarray:
    """``glyph`` upscaled, rotated, sheared, scaled and shifted onto a SIZE x SIZE canvas (ink in [0, 1])."""
    big = Image.fromarray(to_uint8(glyph)).resize((24, 24), Image.BICUBIC)
    canvas = Image.new("L", (SIZE, SIZE))
    canvas.paste(big, (4, 4))
    angle = np.deg2rad(rng.uniform(-18, 18))
    shear = np.deg2rad(rng.uniform(-12, 12))
    # Inverse map (output -> input) about the centre: PIL's affine transform takes it that way.
    forward = scale * np.array([[np.cos(angle), -np.sin(angle + shear)], [np.sin(angle), np.cos(angle + shear)]])
    inverse = np.linalg.inv(forward)
    centre = np.array([SIZE / 2, SIZE / 2])
    offset = centre - inverse @ (centre + np.asarray(shift))
    coeffs = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return np.asarray(canvas.transform((SIZE, SIZE), Image.AFFINE, coeffs, Image.BILINEAR), dtype=np.float64) / 255.0
