"""Augmentation presets and the evaluation transform (torchvision v2 on uint8 image tensors), by name.

Every pipeline starts with ``to_image``: it takes the (H, W, 3) uint8 pixels of ``rayjob.data.decoded``
(or a PIL image) and the rest runs on tensors, the same whether the pixels were just decoded or read
from the node's decoded-image cache.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from rayjob.config import DataConfig


def to_image(pixels: object) -> tv_tensors.Image:
    """(H, W, 3) uint8 pixels as a (3, H, W) image tensor that shares their memory (a channels-last view);
    PIL images through ``v2.ToImage``. ``ToImage`` copies arrays into channels-first memory, and the
    crop-resize after it is slower on that layout: with the copy, cached later epochs in
    ``benchmarks/data_throughput.py`` ran at 2.33x a plain torchvision loader, and 3.21x without it."""
    if isinstance(pixels, np.ndarray) and pixels.ndim == 3:
        return tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1))
    return v2.ToImage()(pixels)


def train_transform(cfg: DataConfig) -> v2.Compose:
    """The augmentation preset named by ``cfg.augment``, then normalization (and random erasing)."""
    size = cfg.image_size
    steps: list[Callable] = [to_image]
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
    resize = [to_image, v2.Resize(cfg.image_size), v2.CenterCrop(cfg.image_size)]
    return v2.Compose([*resize, *_to_normalized_tensor(cfg)])


def _to_normalized_tensor(cfg: DataConfig) -> list[Callable]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)]
