"""What a cheap camera does to a printed mark: paper and ink colours, uneven light, blur, a lower resolution,
sensor noise and JPEG compression, each of random strength. Shared by the embedded camera tasks."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

SIZE = 32  # pixels of each crop


def photographed(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``ink`` (SIZE x SIZE coverage in [0, 1]) printed and photographed: (SIZE, SIZE, 3) uint8 pixels."""
    paper, colour = colours(rng)
    gradient = np.linspace(-1, 1, SIZE)[None, :, None] * rng.uniform(-0.25, 0.25, size=3)
    image = paper + gradient + ink[..., None] * (colour - paper)
    pil = Image.fromarray(to_uint8(image))
    pil = pil.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.0, 1.1)))
    if rng.random() < 0.6:  # a lower-resolution camera, upscaled again
        small = int(rng.integers(13, 24))
        pil = pil.resize((small, small), Image.BILINEAR).resize((SIZE, SIZE), Image.BILINEAR)
    noisy = np.asarray(pil, dtype=np.float64) / 255.0 + rng.normal(0.0, rng.uniform(0.0, 0.08), size=(SIZE, SIZE, 3))
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(noisy)).save(buffer, format="JPEG", quality=int(rng.integers(20, 85)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paper and ink colours with a contrast between 0.35 and 0.85; a third of crops are light on dark."""
    paper = rng.uniform(0.35, 1.0, size=3)
    contrast = rng.uniform(0.35, 0.85)
    tint = rng.uniform(-0.15, 0.15, size=3)
    colour = np.clip(paper - contrast + tint, 0.0, 1.0)
    if rng.random() < 1 / 3:
        paper, colour = colour, paper
    return paper[None, None, :], colour[None, None, :]


def to_uint8(values: np.ndarray) -> np.ndarray:
    return (np.clip(values, 0.0, 1.0) * 255.0).round().astype(np.uint8)
