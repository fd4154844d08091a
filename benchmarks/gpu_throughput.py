"""GPU training throughput: rayjob's train_loop (Lightning under Ray Train, one worker) vs a plain AMP loop.

    python benchmarks/gpu_throughput.py [--backbone resnet50] [--size 128] [--batch 128] [--epochs 3]
                                        [--channels-last] [--workers 8]

Both train the same backbone on the same data (the embedded digits, resized to --size) with the same
DataLoader settings, batch size, AdamW and 16-bit mixed precision on one GPU. The plain loop is the
simplest one there is (torch.autocast + GradScaler, no EMA, no metrics, no checkpoints); rayjob's
number is what `python -m rayjob.train scaling.num_workers=1` does: Ray Train worker, EMA, torchmetrics,
a checkpoint per epoch. Images/s are taken from epochs after the first (warm-up, cudnn autotuning).
Target: rayjob >= 0.95 of the plain loop. Needs CUDA: without a GPU it says so and exits 2.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time

import torch
from timing import ROOT, timed_run

from rayjob.config import load_config
from rayjob.data.datamodule import ImageDataModule
from rayjob.data.sources import resolve_root
from rayjob.model.backbones import build_backbone


def overrides(args: argparse.Namespace) -> list[str]:
    return [f"model.backbone={args.backbone}", f"data.image_size={args.size}", f"data.batch_size={args.batch}",
            f"data.num_workers={args.workers}", "data.pin_memory=true", "data.persistent_workers=true",
            "data.augment=basic", f"trainer.max_epochs={args.epochs}", "trainer.accelerator=gpu",
            "trainer.precision=16-mixed", f"model.channels_last={str(args.channels_last).lower()}"]  # fmt: skip


def plain_images_per_s(args: argparse.Namespace) -> float:
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides(args))
    data = ImageDataModule(cfg.data, resolve_root(cfg.data))
    model = build_backbone(args.backbone, data.num_classes).cuda()
    memory = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scaler = torch.amp.GradScaler("cuda")
    rates = []
    for _ in range(args.epochs):
        torch.cuda.synchronize()
        started, seen = time.perf_counter(), 0
        for images, labels in data.train_dataloader():
            images = images.cuda(non_blocking=True).contiguous(memory_format=memory)
            labels = labels.cuda(non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val or 1.0)
            scaler.step(optimizer)
            scaler.update()
            seen += len(labels)
        torch.cuda.synchronize()
        rates.append(seen / (time.perf_counter() - started))
    return statistics.median(rates[1:])


def rayjob_images_per_s(args: argparse.Namespace) -> float:
    """From the epoch lines of a real `python -m rayjob.train scaling.num_workers=1` run (training time only)."""
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides(args))
    train_images = len(ImageDataModule(cfg.data, resolve_root(cfg.data)).splits["train"].samples)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rayjob.train", "--config", str(ROOT / "configs" / "quickstart.yaml"),
                   *overrides(args), "scaling.num_workers=1", f"run.storage_path={tmp}"]  # fmt: skip
        finished = timed_run(command)
    if finished is None:
        raise SystemExit("the rayjob run failed")
    seconds = [float(s) for s in re.findall(r"train (\d+\.\d+) s", finished[0].stdout)]
    if not seconds:
        seconds = [float(s) for s in re.findall(r"^epoch \d+/\d+ .*\((\d+\.\d+) s\)", finished[0].stdout, re.M)]
    per_batch = train_images - train_images % args.batch  # drop_last
    return statistics.median(per_batch / s for s in seconds[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: this benchmark needs a GPU (no figure was measured)")
        return 2
    print(f"GPU {torch.cuda.get_device_name()}, {args.backbone} at {args.size} px, batch {args.batch}, 16-mixed, "
          f"channels_last={args.channels_last}", flush=True)  # fmt: skip
    plain = plain_images_per_s(args)
    print(f"plain AMP loop      {plain:8.0f} images/s", flush=True)
    rayjob = rayjob_images_per_s(args)
    print(f"rayjob train_loop   {rayjob:8.0f} images/s (Ray Train, 1 worker, EMA, metrics, checkpoints)")
    print(f"ratio               {rayjob / plain:8.2f} (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
