"""Per-epoch time of a plain PyTorch loop (no Lightning, no Ray) on the embedded digits.

    python benchmarks/plain_epoch.py [--backbones resnet18 mobilenet_v3_small] [--epochs 2] [--threads 2]

The denominator of the sweep-overhead figure (benchmarks/sweep_overhead.py): the same model, data
pipeline and batch size as the quickstart config, trained by the simplest loop there is
(``rayjob.training.plain``, which ``--plan`` times too).
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import ROOT

from rayjob.config import load_config
from rayjob.training.plain import PlainLoop


def plain_epochs(backbone: str, epochs: int, overrides: list[str] | None = None) -> tuple[float, float]:
    """Train ``epochs`` epochs; return (seconds per epoch, final val top-1)."""
    cfg = load_config(str(ROOT / "configs" / "quickstart.yaml"), [f"model.backbone={backbone}", *(overrides or [])])
    torch.manual_seed(cfg.trainer.seed)
    loop = PlainLoop(cfg)
    times, accuracy = [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        accuracy = loop.epoch()
        times.append(time.perf_counter() - start)
    return sum(times) / len(times), accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for backbone in args.backbones:
        seconds, accuracy = plain_epochs(backbone, args.epochs)
        print(f"{backbone:20s} {seconds:6.2f} s/epoch ({args.threads} threads), val top-1 {accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
