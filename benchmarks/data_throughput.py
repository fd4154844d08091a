"""Training-loader throughput on realistic photos: a user's loop, rayjob without and with the decoded cache.

    python benchmarks/data_throughput.py [--images 2000] [--epochs 3] [--workers 0]

Data: a 224-px ImageFolder of --images JPEGs (quality 90, ~500x375 random crops) cut from the real
photos installed packages ship (scikit-learn's china.jpg and flower.jpg, matplotlib's grace_hopper.jpg);
the class is the source photo. Written once under ~/.cache/rayjob/bench-photos-<n>.

Loaders, all RandomResizedCrop(224) + flip + normalize, batch 64, the same DataLoader workers:
(a) what a user would write: torchvision ImageFolder + PIL + v2 transforms;
(b) rayjob, data.cache: none (decode every epoch);
(c) rayjob, data.cache: decoded: first epoch (builds the node's cache) and later epochs (read from it).
Prints images/s per core (loader processes: the main one, or --workers). Goals: (c) later epochs >= 3x
(a); (c) first epoch no slower than 1.2x (a). The cache is rebuilt from scratch for (c).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rayjob.config import DataSection
from rayjob.data.datamodule import ImageDataModule

SIZE = 224


def source_photos() -> list[Image.Image]:
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(image) for image in load_sample_images().images]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        photos.append(Image.open(file).convert("RGB"))
    return photos


def make_dataset(count: int) -> Path:
    root = Path("~/.cache/rayjob").expanduser() / f"bench-photos-{count}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    photos = source_photos()
    for i in range(count):
        split = "val" if i % 10 == 0 else "train"
        label = i % len(photos)
        photo = photos[label]
        w, h = min(500, photo.width), min(375, photo.height)
        x, y = rng.integers(0, photo.width - w + 1), rng.integers(0, photo.height - h + 1)
        folder = root / split / f"photo{label}"
        folder.mkdir(parents=True, exist_ok=True)
        photo.crop((x, y, x + w, y + h)).save(folder / f"{i:05d}.jpg", quality=90)
    (root / ".complete").touch()
    return root


def epoch_rate(loader: torch.utils.data.DataLoader) -> float:
    started, seen = time.perf_counter(), 0
    for images, _ in loader:
        seen += len(images)
    return seen / (time.perf_counter() - started)


def user_loop(root: Path, workers: int) -> torch.utils.data.DataLoader:
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    transform = v2.Compose([v2.RandomResizedCrop(SIZE, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                            v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])  # fmt: skip
    dataset = ImageFolder(str(root / "train"), transform=transform)
    return torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=workers, drop_last=True)


def rayjob_loader(root: Path, workers: int, cache: str, cache_dir: Path) -> tuple[ImageDataModule, float]:
    cfg = DataSection(root=str(root), image_size=SIZE, augment="basic", batch_size=64, num_workers=workers,
                     cache=cache, cache_dir=str(cache_dir))  # fmt: skip
    data = ImageDataModule(cfg, root)
    started = time.perf_counter()
    data.setup("fit")  # builds the cache for (c): part of the first epoch's cost
    return data, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = make_dataset(args.images)
    cores = max(1, args.workers)
    cache_dir = root.parent / f"bench-cache-{args.images}"
    shutil.rmtree(cache_dir, ignore_errors=True)
    train_images = sum(1 for _ in (root / "train").rglob("*.jpg"))
    print(f"{train_images} train JPEGs (~500x375, q90) in {root}; {args.workers} loader workers; per core:", flush=True)

    user = [epoch_rate(user_loop(root, args.workers)) / cores for _ in range(args.epochs)]
    print(f"(a) torchvision ImageFolder + PIL   {statistics.median(user):7.1f} images/s", flush=True)
    plain, _ = rayjob_loader(root, args.workers, "none", cache_dir)
    none = [epoch_rate(plain.train_dataloader()) / cores for _ in range(args.epochs)]
    print(f"(b) rayjob, no cache                {statistics.median(none):7.1f} images/s", flush=True)
    cached, build_s = rayjob_loader(root, args.workers, "decoded", cache_dir)
    first_epoch_s = build_s + train_images / epoch_rate(cached.train_dataloader())
    first = train_images / first_epoch_s / cores
    later = [epoch_rate(cached.train_dataloader()) / cores for _ in range(args.epochs - 1)]
    info = cached.cache_info["train"]
    print(f"(c) rayjob, decoded cache, epoch 1  {first:7.1f} images/s (build {build_s:.1f} s, "
          f"{info.megabytes:.0f} MiB)")  # fmt: skip
    print(f"(c) rayjob, decoded cache, later    {statistics.median(later):7.1f} images/s", flush=True)
    print(f"(c) later / (a):  {statistics.median(later) / statistics.median(user):.2f}x  (goal >= 3)")
    print(f"(c) epoch 1 takes {statistics.median(user) / first:.2f}x as long as (a)'s  (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
