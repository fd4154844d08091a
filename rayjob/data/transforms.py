"""The training augmentation (``data.augment``'s knobs) and the evaluation transform (torchvision v2 on uint8
image tensors); batch-level mixing (mixup / cutmix) is ``batch_mixer``, applied in the training step.

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

from rayjob.config import AugmentSection, DataSection


def to_image(pixels: object) -> tv_tensors.Image:
    """(H, W, 3) uint8 pixels as a (3, H, W) image tensor that shares their memory (a channels-last view);
    PIL images through ``v2.ToImage``. ``ToImage`` copies arrays into channels-first memory, and the
    crop-resize after it is slower on that layout: with the copy, cached later epochs in
    ``benchmarks/data_throughput.py`` ran at 2.33x a plain torchvision loader, and 3.21x without it."""
    if isinstance(pixels, np.ndarray) and pixels.ndim == 3:
        return tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1))
    return v2.ToImage()(pixels)


def train_transform(cfg: DataSection) -> v2.Compose:
    """Crop (or resize), flip, colour, camera degradation, policy; then normalization and random erasing."""
    aug, size = cfg.augment, cfg.image_size
    steps: list[Callable] = [to_image]
    if aug.crop_scale >= 1.0:
        steps += [v2.Resize(size), v2.CenterCrop(size)]
    else:
        steps.append(v2.RandomResizedCrop(size, scale=(aug.crop_scale, 1.0), antialias=True))
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if aug.color_jitter > 0:
        s = aug.color_jitter
        steps.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4)))
    if aug.degrade > 0:
        steps.append(v2.RandomApply([camera_degradation(size)], p=aug.degrade))
    if aug.trivialaugment:
        steps.append(v2.TrivialAugmentWide())
    if aug.randaugment > 0:
        steps.append(v2.RandAugment(magnitude=aug.randaugment))
    steps += _to_normalized_tensor(cfg)
    if aug.random_erasing > 0:
        steps.append(v2.RandomErasing(p=aug.random_erasing))
    return v2.Compose(steps)


def camera_degradation(size: int) -> v2.RandomChoice:
    """One of what a camera does to a small crop: blur, a lower resolution, sensor noise, JPEG artefacts."""
    return v2.RandomChoice(
        [
            v2.GaussianBlur(kernel_size=5, sigma=(0.3, 1.5)),
            v2.Compose([v2.RandomChoice([v2.Resize(s) for s in downscale_sizes(size)]), v2.Resize(size)]),
            v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.GaussianNoise(sigma=0.06, clip=True),
                        v2.ToDtype(torch.uint8, scale=True)]),  # fmt: skip
            v2.JPEG(quality=(15, 80)),
        ]
    )


def downscale_sizes(size: int) -> list[int]:
    """The lower resolutions a camera degradation may drop a ``size`` crop to (one of them, uniformly)."""
    return list(range(max(4, size // 3), size, max(1, size // 8)))


def batch_mixer(aug: AugmentSection, num_classes: int) -> Callable[[torch.Tensor, torch.Tensor], tuple] | None:
    """Mixup / cutmix over a batch (soft labels out), or None when both are off."""
    mixers = []
    if aug.mixup > 0:
        mixers.append(v2.MixUp(alpha=aug.mixup, num_classes=num_classes))
    if aug.cutmix > 0:
        mixers.append(v2.CutMix(alpha=aug.cutmix, num_classes=num_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def eval_transform(cfg: DataSection) -> v2.Compose:
    """Resize the short side, center crop, normalize: what validation, export and predict use."""
    resize = [to_image, v2.Resize(cfg.image_size), v2.CenterCrop(cfg.image_size)]
    return v2.Compose([*resize, *_to_normalized_tensor(cfg)])


def _to_normalized_tensor(cfg: DataSection) -> list[Callable]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)]
