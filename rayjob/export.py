"""Checkpoint -> EMA weights -> ONNX -> verified against PyTorch -> sidecar JSON.

``python -m rayjob.export RESULTS`` exports the best checkpoint of a sweep folder (``trials.csv``), of a
``rayjob.train`` run folder, or a given ``checkpoint.ckpt``; ``rayjob.tune`` runs the same at its end.

The graph takes ``input`` (N, 3, H, W) float32, already resized, center-cropped and normalized, and
returns ``logits`` (N, classes); the batch axis is dynamic. Normalization is *not* in the graph: the
sidecar ``model.json`` holds mean/std, input size and class names, and ``rayjob.predict`` applies them
with the same evaluation transform training used. Nothing that looks finished is written unless every
check passed: the files appear under their final names only at the very end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayjob.cli import run_main
from rayjob.config import Config, read_yaml
from rayjob.errors import RayjobError
from rayjob.scoring import score

OPSET = 18  # the torch.export-based exporter's native opset (>= 17 as required)
MAX_ABS_DIFF = 1e-4
CHECK_IMAGES = 64


class ExportError(RayjobError):
    """The exported model cannot be trusted (a check failed) or there is nothing to export."""


@dataclass
class Exported:
    onnx_path: Path
    sidecar_path: Path
    max_abs_diff: float
    top1_agreement: float
    eval_split: str
    eval_top1: float


def find_best_checkpoint(results: Path) -> tuple[Path, dict[str, Any]]:
    """The checkpoint to export and the metrics it was chosen by (best by the run's metric, not the last)."""
    if results.is_file():
        return results, {}
    if not results.is_dir():
        raise ExportError(f"{results} does not exist; give a sweep folder, a run folder or a checkpoint.ckpt")
    config_file = results / "config.yaml"
    search = Config.from_dict(read_yaml(config_file)).search if config_file.is_file() else Config().search
    trials = results / "trials.csv"
    if trials.is_file():
        with open(trials) as f:
            rows = [r for r in csv.DictReader(f) if r["checkpoint"] and Path(r["checkpoint"]).is_file()]
        if rows:
            best = max(rows, key=lambda r: score({"m": float(r["best"])}, "m", search.mode))
            return Path(best["checkpoint"]), {search.metric: float(best["best"]), "trial_id": best["trial_id"]}
    candidates = []
    for metrics_file in results.glob("checkpoint_*/metrics.json"):
        if (metrics_file.parent / "checkpoint.ckpt").is_file():
            candidates.append((metrics_file.parent / "checkpoint.ckpt", json.loads(metrics_file.read_text())))
    if candidates:
        return max(candidates, key=lambda c: score(c[1], search.metric, search.mode))
    raise ExportError(f"{results} holds no finished trial or checkpoint to export; run a sweep or training first")


def load_ema_model(checkpoint: Path) -> tuple[Any, Config, list[str], str]:
    """The backbone with the checkpoint's EMA weights (``state_dict``; live ones are in ``current_model_state``)."""
    import torch

    from rayjob.models import build_backbone

    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unreadable or not a checkpoint: one message
        raise ExportError(f"cannot read checkpoint {checkpoint}: {err}") from None
    hparams = ckpt.get("hyper_parameters", {})
    if "config" not in hparams or "classes" not in hparams:
        raise ExportError(f"{checkpoint} is not a rayjob checkpoint (no config/classes hyperparameters)")
    cfg = Config.from_dict(hparams["config"])
    classes = list(hparams["classes"])
    model = build_backbone(cfg.model.backbone, len(classes))
    prefix = "backbone."
    weights = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    model.load_state_dict(weights)
    kind = "ema" if "current_model_state" in ckpt else "live"
    return model.eval(), cfg, classes, kind


def export_checkpoint(checkpoint: Path, out_dir: Path, metrics: dict[str, Any] | None = None) -> Exported:
    """Export, verify, evaluate and describe one checkpoint; raises ExportError if a check fails."""

    from rayjob.data import eval_batches
    from rayjob.dataset import scan_dataset
    from rayjob.datasource import resolve_root

    model, cfg, classes, kind = load_ema_model(checkpoint)
    index = scan_dataset(resolve_root(cfg.data))
    check_images, _ = next(eval_batches(cfg.data, index.splits["val"], CHECK_IMAGES, limit=CHECK_IMAGES))
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, sidecar_path = out_dir / "model.onnx", out_dir / "model.json"
    partial = out_dir / ".model.onnx.partial"
    try:
        write_onnx(model, check_images[:1], partial)
        session = verified_session(partial, model, check_images)
        max_diff, agreement = compare(session, model, check_images)
        split_name = "test" if "test" in index.splits else "val"
        eval_top1 = onnx_accuracy(session, cfg, index.splits[split_name])
        sidecar = {
            "format": "rayjob-onnx-v1",
            "onnx": onnx_path.name,
            "input": {"name": "input", "shape": ["batch", 3, cfg.data.image_size, cfg.data.image_size]},
            "output": {"name": "logits", "shape": ["batch", len(classes)]},
            "preprocessing": {
                "in_graph": False,
                "steps": "RGB, resize short side, center crop, scale to [0, 1], normalize",
                "image_size": cfg.data.image_size,
                "mean": cfg.data.mean,
                "std": cfg.data.std,
            },
            "classes": dict(enumerate(classes)),
            "backbone": cfg.model.backbone,
            "weights": kind,
            "opset": OPSET,
            "checks": {"max_abs_logit_diff": max_diff, "top1_agreement": agreement, "images": len(check_images)},
            "evaluation": {"split": split_name, "onnx_top1": eval_top1},
            "metrics": metrics or {},
            "source_checkpoint": str(checkpoint),
            "config": cfg.to_dict(),
        }
        partial_sidecar = out_dir / ".model.json.partial"
        partial_sidecar.write_text(json.dumps(sidecar, indent=2))
        os.replace(partial, onnx_path)
        os.replace(partial_sidecar, sidecar_path)
    finally:
        for leftover in (partial, out_dir / ".model.json.partial"):
            leftover.unlink(missing_ok=True)
    return Exported(onnx_path, sidecar_path, max_diff, agreement, split_name, eval_top1)


def write_onnx(model: Any, example: Any, path: Path) -> None:
    """``input`` -> ``logits`` with a dynamic batch axis, one self-contained file."""
    import torch

    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def inference_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with full graph optimizations and a fixed thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def verified_session(path: Path, model: Any, images: Any) -> Any:
    """``onnx.checker`` (full check), then an onnxruntime session that must accept batch 1 and batch N."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except Exception as err:  # noqa: BLE001
        raise ExportError(f"the exported graph fails onnx.checker: {err}") from None
    session = inference_session(path)
    for batch in (1, len(images)):
        out = session.run(["logits"], {"input": images[:batch].numpy()})[0]
        if out.shape[0] != batch:
            raise ExportError(f"the exported graph returned {out.shape[0]} rows for a batch of {batch}")
    return session


def compare(session: Any, model: Any, images: Any) -> tuple[float, float]:
    """Max |logit difference| and top-1 agreement of onnxruntime vs the PyTorch EMA model."""
    import torch

    with torch.no_grad():
        expected = model(images).numpy()
    got = session.run(["logits"], {"input": images.numpy()})[0]
    max_diff = float(abs(got - expected).max())
    agreement = float((got.argmax(1) == expected.argmax(1)).mean())
    if max_diff > MAX_ABS_DIFF or agreement < 1.0:
        raise ExportError(
            f"onnxruntime disagrees with PyTorch on {len(images)} validation images: max |logit diff| "
            f"{max_diff:.3g} (limit {MAX_ABS_DIFF:g}), top-1 agreement {agreement:.1%} (needs 100%); "
            "no model was written"
        )
    return max_diff, agreement


def onnx_accuracy(session: Any, cfg: Config, split: Any) -> float:
    from rayjob.data import eval_batches

    correct = total = 0
    for images, labels in eval_batches(cfg.data, split, 64):
        logits = session.run(["logits"], {"input": images.numpy()})[0]
        correct += int((logits.argmax(1) == labels.numpy()).sum())
        total += len(labels)
    return correct / max(1, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.export",
        description="Export the best checkpoint's EMA weights to ONNX, verify it against PyTorch, write a sidecar. "
        "On a sweep folder it runs the whole post-hook: per-trial plots, export, report.md.",
    )
    parser.add_argument("results", type=Path, help="a sweep folder, a rayjob.train run folder, or a checkpoint.ckpt")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RESULTS/export)")
    args = parser.parse_args(argv)
    if (args.results / "trials.csv").is_file() and args.out is None:
        from rayjob.posthook import post_sweep

        return post_sweep(args.results, Config.from_dict(read_yaml(args.results / "config.yaml")))
    checkpoint, metrics = find_best_checkpoint(args.results)
    out = args.out or (args.results.parent if args.results.is_file() else args.results) / "export"
    print(f"exporting {checkpoint}", flush=True)
    done = export_checkpoint(checkpoint, out, metrics)
    print_export(done)
    return 0


def print_export(done: Exported) -> None:
    print(f"onnx model     {done.onnx_path}")
    print(f"sidecar        {done.sidecar_path}")
    print(
        f"checks         onnx.checker ok; vs PyTorch: max |logit diff| {done.max_abs_diff:.2e}, "
        f"top-1 agreement {done.top1_agreement:.0%}; batch 1 and {CHECK_IMAGES} ok"
    )
    print(f"onnx top-1     {done.eval_top1:.4f} on {done.eval_split}")


if __name__ == "__main__":
    run_main(main)
