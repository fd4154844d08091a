"""Training augmentation throughput: a loader worker's per-image pipeline against the batched device pipeline.

    python benchmarks/augment_throughput.py [--size 128] [--batch 128] [--augment randaugment] [--seconds 5]

Both run the same knobs (``data.augment``) on the same decoded uint8 pixels, from pixels in memory to the
normalized batch: ``data.augment_on: cpu`` is ``train_transform`` image by image, as one loader worker does
on one core; ``data.augment_on: device`` is ``DeviceAugment`` on whole batches on this machine's GPU (its CPU
when there is none, one thread). Steady state: each is timed for ``--seconds`` after a warm-up.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from rayjob.config import Config
from rayjob.data.decoded import stored_size
from rayjob.data.device_augment import DeviceAugment
from rayjob.data.transforms import train_transform


def rate(step: Callable[[], object], images_per_step: int, seconds: float,
         sync: Callable[[], None] | None = None) -> float:
    """Images per second of ``step()`` over ``seconds`` after two warm-up steps."""
    for _ in range(2):
        step()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        done += images_per_step
    if sync is not None:
        sync()
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="data.image_size (default 128)")
    parser.add_argument("--batch", type=int, default=128, help="batch size on the device (default 128)")
    parser.add_argument("--augment", default="randaugment", help="a data.augment preset (default randaugment)")
    parser.add_argument("--degrade", type=float, default=0.5, help="data.augment.degrade (default 0.5)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per pipeline (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = Config.from_dict({"data": {"image_size": args.size, "augment": args.augment}})
    cfg = cfg.with_values({"data.augment.degrade": args.degrade})
    side = stored_size(args.size)
    pixels = torch.randint(0, 256, (args.batch, side, side, 3), dtype=torch.uint8)
    per_image = train_transform(cfg.data)
    cpu = rate(lambda: [per_image(p.numpy()) for p in pixels[:16]], 16, args.seconds)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = pixels.permute(0, 3, 1, 2).contiguous().to(device)
    on_device = DeviceAugment(cfg.data)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    batched = rate(lambda: on_device(batch), args.batch, args.seconds, sync)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu, 1 thread"
    print(f"augmentation {args.augment} + degrade {args.degrade} at {args.size} px: cpu worker {cpu:.0f} images/s "
          f"per core; device ({name}) {batched:.0f} images/s, batch {args.batch}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
