"""Training throughput on one GPU, in steady state, against what the GPU does on data already in memory.

    python benchmarks/gpu_throughput.py [--quick] [--backbone resnet50] [--size 128] [--batch 128]
                                        [--images 16000] [--workers 8] [--augment basic] [--epochs 3]
    python benchmarks/gpu_throughput.py --cpu-smoke     # the same code paths at toy scale on a CPU: no figures

It writes a JPEG ImageFolder of ``--images`` training images (160 px, ten classes of coloured shapes and
noise) to a temporary folder at run time, then measures, in one run, images/s of:
- ceiling: the same model, AdamW and 16-bit mixed precision on batches already on the GPU;
- plain: the simplest AMP loop (no EMA, no metrics, no checkpoints) fed by rayjob's own loader and
  augmentation on CPU workers;
- rayjob in-process (``python -m rayjob.train``, ``scaling.num_workers=0``) with ``data.augment_on: cpu``
  and with ``data.augment_on: device``;
- rayjob under Ray Train with one worker (``scaling.num_workers=1``).
Each loop's figure is the median of its epochs after the first (warm-up, cudnn autotuning), each epoch at
least 100 batches at the defaults; rayjob's come from the training time its epoch lines print. Each is
printed as images/s and as a share of the ceiling. Without CUDA (and without --cpu-smoke) it says so and
exits 2.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timing import ROOT, timed_run

from rayjob.config import Config, load_config
from rayjob.data.datamodule import ImageDataModule
from rayjob.model.backbones import build_backbone

CLASSES = 10
SIDE = 160  # the stored JPEGs' side: a realistic small photo, cropped to --size by the augmentation


def _write_image(job: tuple[Path, int, int]) -> None:
    path, label, seed = job
    rng = np.random.default_rng(seed)
    hue = np.array([np.cos(label), np.sin(label), np.cos(2 * label)]) * 80 + 128
    image = rng.normal(hue, 40, (SIDE, SIDE, 3))
    y, x = np.mgrid[:SIDE, :SIDE]
    cy, cx, r = rng.uniform(40, 120, 2).tolist() + [rng.uniform(15, 40 + 3 * label)]
    image[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = 255 - hue
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def write_folder(root: Path, train: int) -> Path:
    """A JPEG ImageFolder (train, val) of ``train`` + ``train // 16`` images, written in parallel."""
    jobs = []
    for split, count in (("train", train), ("val", max(CLASSES, train // 16))):
        for i in range(count):
            folder = root / split / f"class_{i % CLASSES}"
            folder.mkdir(parents=True, exist_ok=True)
            jobs.append((folder / f"{i:06d}.jpg", i % CLASSES, i if split == "train" else 10**6 + i))
    with multiprocessing.Pool() as pool:
        pool.map(_write_image, jobs, chunksize=256)
    return root


def overrides(args: argparse.Namespace, root: Path) -> list[str]:
    accelerator = ["trainer.accelerator=cpu", "trainer.precision=32-true"] if args.cpu_smoke else [
        "trainer.accelerator=gpu", "trainer.precision=16-mixed"]  # fmt: skip
    return [f"data.root={root}", f"model.backbone={args.backbone}", f"data.image_size={args.size}",
            f"data.batch_size={args.batch}", f"data.num_workers={args.workers}",
            f"data.pin_memory={str(not args.cpu_smoke).lower()}",
            f"data.persistent_workers={str(args.workers > 0).lower()}", f"data.augment={args.augment}",
            f"trainer.max_epochs={args.epochs}", "trainer.plots=false", "trainer.progress_bar=false",
            *accelerator]  # fmt: skip


def step_fn(model: torch.nn.Module, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One AMP training step (forward, loss, backward, clip, AdamW) of ``model`` on ``device``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()

    return step


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ceiling(args: argparse.Namespace, device: torch.device, batches: int) -> float:
    """Images/s on one batch already on the device, over ``batches`` steps after 10 warm-up steps."""
    model = build_backbone(args.backbone, CLASSES).to(device)
    step = step_fn(model, device)
    images = torch.randn(args.batch, 3, args.size, args.size, device=device)
    labels = torch.randint(0, CLASSES, (args.batch,), device=device)
    for _ in range(10):
        step(images, labels)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(batches):
        step(images, labels)
    synchronize(device)
    return batches * args.batch / (time.perf_counter() - started)


def plain(args: argparse.Namespace, cfg: Config, device: torch.device) -> float:
    """Images/s of the plain loop over rayjob's training loader (CPU augmentation), median of epochs 2+."""
    data = ImageDataModule(cfg.data, Path(cfg.data.root or ""))
    model = build_backbone(args.backbone, data.num_classes).to(device)
    step = step_fn(model, device)
    loader = data.train_dataloader()
    rates = []
    for _ in range(args.epochs):
        synchronize(device)
        started, seen = time.perf_counter(), 0
        for images, labels in loader:
            step(images.to(device, non_blocking=True), labels.to(device, non_blocking=True))
            seen += len(labels)
        synchronize(device)
        rates.append(seen / (time.perf_counter() - started))
    return statistics.median(rates[1:])


def rayjob(args: argparse.Namespace, root: Path, train_images: int, extra: list[str]) -> float:
    """Images/s from the epoch lines of a real ``python -m rayjob.train`` run (training time, epochs 2+)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.train", "--config", str(ROOT / "configs" / "quickstart.yaml"),
                   *overrides(args, root), *extra, f"run.storage_path={tmp}"]  # fmt: skip
        finished = timed_run(command)
    if finished is None:
        raise SystemExit(f"the rayjob run failed: {' '.join(extra)}")
    seconds = [float(s) for s in re.findall(r"train (\d+\.\d+) s\)", finished[0].stdout)]
    trained = train_images - train_images % args.batch  # drop_last
    return statistics.median(trained / s for s in seconds[1:])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs a loop, 12,800 images: within 4 minutes")
    parser.add_argument("--cpu-smoke", action="store_true", help="every code path at toy scale on this CPU")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--images", type=int, default=16000, help="training images (default 16,000)")
    parser.add_argument("--workers", type=int, default=8, help="loader workers (default 8)")
    parser.add_argument("--augment", default="basic", help="a data.augment preset (default basic)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per loop, the first not counted")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.images = 2, min(args.images, 12800)  # still 100 batches of 128 an epoch
    if args.cpu_smoke:
        args.backbone, args.size, args.batch, args.images, args.workers, args.epochs = "cnn_small", 32, 16, 160, 0, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print("no CUDA device here: this benchmark needs a GPU (no figure was measured); --cpu-smoke runs its "
              "code paths at toy scale")  # fmt: skip
        return 2
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    name = "CPU smoke run: not figures" if args.cpu_smoke else torch.cuda.get_device_name()
    with tempfile.TemporaryDirectory(prefix="rayjob-gpu-throughput-") as tmp:
        started = time.perf_counter()
        root = write_folder(Path(tmp), args.images)
        print(f"{name}; {args.backbone} at {args.size} px, batch {args.batch}, {args.workers} loader workers, "
              f"augment {args.augment}; {args.images} JPEGs written in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides(args, root))
        rows = {"ceiling (data on the device)": ceiling(args, device, max(20, args.images // args.batch))}
        rows["plain AMP loop, rayjob's loader"] = plain(args, cfg, device)
        runs = {"rayjob in-process, augment on cpu": ["scaling.num_workers=0", "data.augment_on=cpu"],
                "rayjob in-process, augment on device": ["scaling.num_workers=0", "data.augment_on=device"],
                "rayjob Ray Train, 1 worker": ["scaling.num_workers=1", "data.augment_on=cpu"]}
        for label, extra in runs.items():
            rows[label] = rayjob(args, root, args.images, extra)
            print(f"  {label}: {rows[label]:.0f} images/s", flush=True)
    top = rows["ceiling (data on the device)"]
    for label, value in rows.items():
        print(f"{label:40} {value:8.0f} images/s  {value / top:5.2f} of the ceiling")
    return 0


if __name__ == "__main__":
    sys.exit(main())
