"""``data.augment_on: device``: the same knobs mean the same augmentation as on the CPU, drawn per sample.

Each test draws thousands of samples under a fixed seed and compares what a knob does on either side within
sampling error (4 standard errors of the difference, so a correct pipeline fails about once in 16,000 runs
of a test, and a fixed seed makes each run the same anyway).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from rayjob.config import Config
from rayjob.data.decoded import stored_size
from rayjob.data.device_augment import DEGRADATIONS, DeviceAugment, Policy, device_input_transform
from rayjob.data.transforms import train_transform
from rayjob.train import main

DRAWS = 4000
SIZE = 32


def data_cfg(**augment: object) -> Config:
    return Config.from_dict({"data": {"image_size": SIZE, "augment": {"crop_scale": 1.0, **augment}}})


def agree(a: list[float], b: list[float]) -> bool:
    """The means of two samples agree within 4 standard errors of their difference."""
    def mean_var(xs: list[float]) -> tuple[float, float]:
        m = sum(xs) / len(xs)
        return m, sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)

    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    return abs(ma - mb) <= 4 * math.sqrt(va + vb)


def test_crop_areas_and_shapes_are_drawn_as_on_the_cpu() -> None:
    torch.manual_seed(0)
    side = stored_size(SIZE)
    cpu = v2.RandomResizedCrop(SIZE, scale=(0.35, 1.0))
    image = [tv_tensors.Image(torch.zeros(3, side, side, dtype=torch.uint8))]
    cpu_boxes = [cpu.make_params(image) for _ in range(DRAWS)]
    cpu_area = [p["height"] * p["width"] / side**2 for p in cpu_boxes]
    cpu_ratio = [math.log(p["width"] / p["height"]) for p in cpu_boxes]
    device = DeviceAugment(data_cfg(crop_scale=0.35).data)
    src = device.crop.forward_parameters(torch.Size((DRAWS, 3, side, side)))["src"]  # corners, inclusive
    width, height = src[:, 1, 0] - src[:, 0, 0] + 1, src[:, 2, 1] - src[:, 1, 1] + 1
    device_area = (width * height / side**2).tolist()
    device_ratio = (width / height).log().tolist()
    assert min(device_area) >= 0.35 - 2 / side and max(device_area) <= 1.0
    assert agree(cpu_area, device_area), (sum(cpu_area) / DRAWS, sum(device_area) / DRAWS)
    assert agree(cpu_ratio, device_ratio)
    cpu_small = [a < 0.5 for a in cpu_area]  # the lower tail too, not only the mean
    assert agree([float(x) for x in cpu_small], [float(a < 0.5) for a in device_area])


def test_the_flip_rate_is_the_cpus() -> None:
    torch.manual_seed(0)
    image = torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8)
    image[..., : SIZE // 2] = 255  # bright left half: a flip moves it right
    batch = image.expand(DRAWS, -1, -1, -1).contiguous()
    device = DeviceAugment(data_cfg(hflip=True).data)(batch)
    device_flipped = (device[:, 0, 0, -1] > device[:, 0, 0, 0]).float().tolist()
    cpu = train_transform(data_cfg(hflip=True).data)
    cpu_flipped = [float(cpu(image[0].permute(1, 2, 0).numpy())[0, 0, -1] > 0) for _ in range(DRAWS)]
    assert agree(cpu_flipped, device_flipped), (sum(cpu_flipped) / DRAWS, sum(device_flipped) / DRAWS)


class Recorder:
    """Stands in for one camera degradation and writes down that it was chosen."""

    def __init__(self, kind: int, seen: list[int]) -> None:
        self.kind, self.seen = kind, seen

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.kind)
        return image


def test_the_degradation_rate_and_mix_are_the_cpus() -> None:
    torch.manual_seed(0)
    cfg = data_cfg(degrade=0.4).data
    cpu = train_transform(cfg)
    seen: list[int] = []
    degrade = next(t for t in cpu.transforms if isinstance(t, v2.RandomApply))  # the CPU pipeline's own
    degrade.transforms[0].transforms = [Recorder(k, seen) for k in range(len(DEGRADATIONS))]
    pixels = torch.zeros(SIZE, SIZE, 3, dtype=torch.uint8).numpy()
    cpu_kinds = []
    for _ in range(DRAWS):
        before = len(seen)
        cpu(pixels)
        cpu_kinds.append(seen[-1] if len(seen) > before else -1)
    device_kinds = DeviceAugment(cfg).degradation_choices(DRAWS).tolist()
    for kind in range(-1, len(DEGRADATIONS)):  # none, then each degradation
        assert agree([float(k == kind) for k in cpu_kinds], [float(k == kind) for k in device_kinds]), kind


def test_a_policy_draws_its_operation_per_sample() -> None:
    """Identical images in one batch come out different: the operation is not one per batch."""
    torch.manual_seed(0)
    image = torch.arange(3 * SIZE * SIZE, dtype=torch.float32).reshape(1, 3, SIZE, SIZE).remainder(251).to(torch.uint8)
    batch = image.expand(64, -1, -1, -1).contiguous()
    out = Policy(v2.RandAugment(magnitude=9), ops=1, magnitude=9)(batch)
    distinct = {bytes(row.numpy().tobytes()) for row in out}
    assert len(distinct) >= 10  # 14 operations, most of them with two signs
    trivial = Policy(v2.TrivialAugmentWide(), ops=1, magnitude=None)(batch)
    assert len({bytes(row.numpy().tobytes()) for row in trivial}) >= 20


def test_the_loader_delivers_the_stored_square_and_the_device_returns_normalized_crops() -> None:
    cfg = data_cfg(crop_scale=0.35, hflip=True, color_jitter=0.2, degrade=0.5, randaugment=9, random_erasing=0.25)
    pixels = torch.randint(0, 256, (50, 40, 3), dtype=torch.uint8).numpy()
    loaded = device_input_transform(cfg.data)(pixels)
    assert loaded.dtype == torch.uint8 and tuple(loaded.shape) == (3, stored_size(SIZE), stored_size(SIZE))
    out = DeviceAugment(cfg.data)(torch.stack([loaded] * 8))
    assert out.dtype == torch.float32 and tuple(out.shape) == (8, 3, SIZE, SIZE)
    gray = torch.full((2, 3, SIZE, SIZE), 128, dtype=torch.uint8)  # no knob on: normalization only
    plain = DeviceAugment(data_cfg().data)(gray)
    expected = (128 / 255 - torch.tensor(cfg.data.mean).view(1, 3, 1, 1)) / torch.tensor(cfg.data.std).view(1, 3, 1, 1)
    assert torch.allclose(plain, expected.expand_as(plain), atol=1e-5)


def test_a_run_augmented_on_the_device_trains_and_its_checkpoint_holds_only_the_model(
    tiny_root: Path, tmp_path: Path
) -> None:
    keys = {}
    for where in ("cpu", "device"):
        assert main([f"data.root={tiny_root}", "trainer.max_epochs=1", "data.image_size=16", "data.batch_size=4",
                     "data.augment=randaugment", "data.augment.degrade=0.5", f"data.augment_on={where}",
                     "model.backbone=cnn_small", "trainer.plots=false", "trainer.progress_bar=false",
                     f"run.storage_path={tmp_path / where}", "run.name=run"]) == 0  # fmt: skip
        checkpoint = torch.load(tmp_path / where / "run" / "checkpoint_000001" / "checkpoint.ckpt", weights_only=True)
        keys[where] = set(checkpoint["state_dict"])
    assert keys["device"] == keys["cpu"]
