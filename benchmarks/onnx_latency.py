"""onnxruntime vs PyTorch eager latency on CPU for an exported rayjob model, same thread count.

    python benchmarks/onnx_latency.py [--backbone resnet18] [--size 224] [--threads 2]

Exports the backbone (random weights: latency does not depend on their values) with rayjob's own
exporter, then times batch 1 and batch 32 in one run: PyTorch eager (eval, inference_mode),
onnxruntime with default session options, and with rayjob's session (full graph optimizations,
sequential execution). Prints the speed-up and the parity (max |logit diff|) alongside.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from rayjob.model.backbones import build_backbone
from rayjob.outputs.onnx import inference_session, write_onnx


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_backbone(args.backbone, args.classes).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        started = time.perf_counter()
        write_onnx(model, torch.randn(1, 3, args.size, args.size), path)
        print(f"{args.backbone} {args.size}px, {args.threads} threads; export {time.perf_counter() - started:.1f} s")
        default_options = ort.SessionOptions()
        default_options.intra_op_num_threads = args.threads
        plain = ort.InferenceSession(str(path), default_options, providers=["CPUExecutionProvider"])
        tuned = inference_session(path, threads=args.threads)
        for batch, repeats in ((1, 50), (32, 8)):
            x = torch.randn(batch, 3, args.size, args.size)
            feed = {"input": x.numpy()}
            with torch.inference_mode():
                eager_ms = median_ms(lambda x=x: model(x), repeats)
                expected = model(x).numpy()
            plain_ms = median_ms(lambda feed=feed: plain.run(["logits"], feed), repeats)
            tuned_ms = median_ms(lambda feed=feed: tuned.run(["logits"], feed), repeats)
            diff = float(np.abs(tuned.run(["logits"], feed)[0] - expected).max())
            print(
                f"batch {batch:2d}: torch eager {eager_ms:7.1f} ms | ort default {plain_ms:7.1f} ms "
                f"({eager_ms / plain_ms:.2f}x) | ort rayjob session {tuned_ms:7.1f} ms ({eager_ms / tuned_ms:.2f}x) "
                f"| max |logit diff| {diff:.1e}"
            )


if __name__ == "__main__":
    main()
