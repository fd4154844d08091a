"""``data.augment_on: device``: the training augmentation applied to whole batches on the training device.

The loader's workers then only decode: each image leaves them as uint8 pixels, a square of the stored size
(``device_input_transform``), and the batch is cropped, flipped, coloured, degraded, put through the policy,
normalized and erased where the model trains, each sample with its own random draws. The knobs mean what
they mean on the CPU (``rayjob.data.transforms.train_transform``): the same crop-area range and aspect
ratios, flip rate, jitter strength, degradation probability and mix, policy and erasing probability. The ops
are Kornia's (``kornia.augmentation``), which draw their parameters per sample, and, for RandAugment and
TrivialAugment, torchvision's own operations and magnitudes: the operation, magnitude bin and sign are drawn
here per sample, and each operation runs once on the samples that drew it. It runs on CPU tensors as well,
so it is tested without a GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from rayjob.config import DataSection
from rayjob.data.decoded import stored_size
from rayjob.data.transforms import downscale_sizes, to_image

Op = Callable[[torch.Tensor], torch.Tensor]
DEGRADATIONS = ("blur", "downscale", "noise", "jpeg")  # the camera's, as in transforms.camera_degradation
NOISE_SIGMA = 0.06


def device_input_transform(cfg: DataSection) -> v2.Compose:
    """What the loader's workers do when the device augments: uint8 pixels, a square of the stored size (the
    centre of an image whose short side was scaled to it), from which the device crops as the CPU would."""
    side = stored_size(cfg.image_size)
    return v2.Compose([to_image, v2.Resize(side), v2.CenterCrop(side)])


class DeviceAugment:
    """``data.augment``'s knobs on a uint8 batch (B, 3, H, W) on any device; returns the normalized float batch.

    A plain object, not an ``nn.Module``: it holds no weights, so it adds nothing to a checkpoint."""

    def __init__(self, cfg: DataSection) -> None:
        import kornia.augmentation as K

        aug, self.size = cfg.augment, cfg.image_size
        self.mean, self.std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
        self.crop: Op | None = None
        if aug.crop_scale < 1.0:  # torchvision's RandomResizedCrop ratio range, Kornia's default too
            self.crop = K.RandomResizedCrop((self.size, self.size), scale=(aug.crop_scale, 1.0), p=1.0)
        self.flip: Op | None = K.RandomHorizontalFlip(p=0.5) if aug.hflip else None
        s = aug.color_jitter
        self.jitter: Op | None = (
            K.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4), p=1.0) if s > 0 else None
        )
        self.degrade = aug.degrade
        self.degradations: list[Op] = [
            K.RandomGaussianBlur((5, 5), (0.3, 1.5), p=1.0),
            self._downscale,
            self._noise,
            K.RandomJPEG(jpeg_quality=(15.0, 80.0), p=1.0),
        ]
        self.policies = []  # applied in this order, as on the CPU
        if aug.trivialaugment:
            self.policies.append(Policy(v2.TrivialAugmentWide(), ops=1, magnitude=None))
        if aug.randaugment > 0:
            self.policies.append(Policy(v2.RandAugment(magnitude=aug.randaugment), ops=2, magnitude=aug.randaugment))
        self.erasing: Op | None = K.RandomErasing(p=aug.random_erasing) if aug.random_erasing > 0 else None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255)
        x = self.crop(x) if self.crop is not None else _resized(x, self.size)
        for op in (self.flip, self.jitter):
            if op is not None:
                x = op(x)
        if self.degrade > 0:
            x = each_its_own(x, self.degradation_choices(len(x)), self.degradations)
        if self.policies:  # on 8-bit pixels, as on the CPU
            pixels = x.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            for policy in self.policies:
                pixels = policy(pixels)
            x = pixels.float().div_(255)
        x = (x.clamp_(0, 1) - self.mean.to(x.device)) / self.std.to(x.device)
        return self.erasing(x) if self.erasing is not None else x

    def degradation_choices(self, n: int) -> torch.Tensor:
        """Per sample: -1 (none, with probability 1 - degrade) or the index of one of DEGRADATIONS, uniformly.
        Drawn on the host: which rows go where is host work, and a device draw would cost a sync per op."""
        applied = torch.rand(n) < self.degrade
        kind = torch.randint(len(DEGRADATIONS), (n,))
        return torch.where(applied, kind, torch.full_like(kind, -1))

    def _downscale(self, x: torch.Tensor) -> torch.Tensor:
        """Down to one of the CPU path's lower resolutions (uniformly, per sample), then back up."""
        sizes = downscale_sizes(self.size)
        ops = [functools.partial(_down_and_up, low=low) for low in sizes]
        return each_its_own(x, torch.randint(len(sizes), (len(x),)), ops)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        """Sensor noise, clipped and quantized to 8 bits as the CPU path's round trip through uint8 does."""
        noise = torch.randn(x.shape, device=x.device)
        return (x + NOISE_SIGMA * noise).clamp_(0, 1).mul_(255).round_().div_(255)


def each_its_own(x: torch.Tensor, choice: torch.Tensor, ops: list[Op]) -> torch.Tensor:
    """``ops[choice[i]]`` applied to sample i (-1: left as it is), each op once, on the samples that chose it."""
    out = x.clone()
    for k, op in enumerate(ops):
        rows = (choice == k).nonzero().flatten().to(x.device)  # ``choice`` lives on the host
        if len(rows):
            out[rows] = op(x[rows])
    return out


class Policy:
    """torchvision's RandAugment or TrivialAugmentWide with every draw per sample: ``ops`` operations in a row,
    each with its own operation, magnitude bin (``magnitude``, or uniform when None) and sign; torchvision's
    operation table and magnitudes, applied once to each group of samples that drew the same."""

    def __init__(self, transform: v2.RandAugment | v2.TrivialAugmentWide, ops: int, magnitude: int | None) -> None:
        self.transform, self.ops, self.magnitude = transform, ops, magnitude
        self.space = transform._AUGMENTATION_SPACE  # name -> (magnitudes for (bins, height, width), signed)
        self.names = list(self.space)
        bins = transform.num_magnitude_bins
        # which draws matter per operation: a bin only where there is a magnitude, a sign only where it is signed
        # (folding the others keeps one group, not 62, for an operation such as Identity)
        self.graded = torch.tensor([_magnitudes(self.space[name][0], bins, 8, 8) is not None for name in self.names])
        self.signed = torch.tensor([self.space[name][1] for name in self.names])

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        n, bins = len(pixels), self.transform.num_magnitude_bins
        for _ in range(self.ops):
            op = torch.randint(len(self.names), (n,))
            level = torch.full((n,), self.magnitude) if self.magnitude is not None else torch.randint(bins, (n,))
            negative = (torch.rand(n) <= 0.5) & self.signed[op]
            draws = torch.stack([op, level * self.graded[op], negative.long()], 1)
            groups, member = torch.unique(draws, dim=0, return_inverse=True)
            apply = [functools.partial(self._apply, op=k, level=lv, negative=bool(neg))
                     for k, lv, neg in groups.tolist()]  # fmt: skip
            pixels = each_its_own(pixels, member, apply)
        return pixels

    def _apply(self, pixels: torch.Tensor, op: int, level: int, negative: bool) -> torch.Tensor:
        name = self.names[op]
        magnitudes = _magnitudes(self.space[name][0], self.transform.num_magnitude_bins, *pixels.shape[-2:])
        magnitude = 0.0 if magnitudes is None else float(magnitudes[level]) * (-1 if negative else 1)
        return self.transform._apply_image_or_video_transform(
            pixels, name, magnitude, interpolation=self.transform.interpolation, fill=self.transform._fill
        )


def _magnitudes(of: Callable, bins: int, height: int, width: int) -> torch.Tensor | None:
    """An operation's magnitude per bin, or None for an operation without one (torchvision gives a 0-d tensor)."""
    magnitudes = of(bins, height, width)
    return magnitudes if magnitudes is not None and magnitudes.ndim > 0 else None


def _down_and_up(x: torch.Tensor, low: int) -> torch.Tensor:
    small = F.interpolate(x, size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _resized(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
