"""Checkpoint -> EMA weights -> ONNX -> verified against PyTorch -> sidecar JSON.

Used by the sweep's post-hook (``rayjob.outputs.finish``) and by ``python -m rayjob.export``.

The graph takes ``input`` (N, 3, H, W) float32, already resized, center-cropped and normalized, and
returns ``logits`` (N, classes); the batch axis is dynamic. Normalization is *not* in the graph: the
sidecar ``model.json`` holds mean/std, input size and class names, and ``rayjob.predict`` applies them
with the same evaluation transform training used. Nothing that looks finished is written unless every
check passed: the files appear under their final names only at the very end.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayjob.config import Config
from rayjob.console import say
from rayjob.data.decoded import stored_size
from rayjob.errors import RayjobError
from rayjob.layout import ONNX_FILE, SIDECAR_FILE

if TYPE_CHECKING:  # imported where a session is made: onnxruntime loads in ~1 s
    import onnxruntime as ort

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
    latency: dict[str, Any]
    classes: int


def load_ema_model(checkpoint: Path) -> tuple[Any, Config, list[str], str]:
    """The backbone with the checkpoint's EMA weights (``state_dict``; live ones are in ``current_model_state``)."""
    import torch

    from rayjob.model.backbones import build_backbone

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


@dataclass
class Source:
    """Where an exported model came from: recorded in the sidecar."""

    checkpoint: str  # the checkpoint's path or URI in the run's storage
    trial_id: str | None = None
    metrics: dict[str, Any] | None = None
    heldout: dict[str, Any] | None = None  # a sweep's pick and base on the test split (rayjob.outputs.heldout)
    selection: dict[str, Any] | None = None  # the rule that chose this trial, when it is not the sweep's best


def export_checkpoint(checkpoint: Path, out_dir: Path, source: Source) -> Exported:
    """Export, verify, evaluate and describe one (local) checkpoint file; raises ExportError if a check fails.

    ``model.onnx`` and ``model.json`` appear under their names only when every check passed.
    """
    from rayjob.data.dataset import eval_batches
    from rayjob.data.files import scan_dataset
    from rayjob.data.sources import resolve_root

    model, cfg, classes, kind = load_ema_model(checkpoint)
    index = scan_dataset(resolve_root(cfg.data))
    check_images, _ = next(eval_batches(cfg.data, index.splits["val"], CHECK_IMAGES, limit=CHECK_IMAGES))
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, sidecar_path = out_dir / ONNX_FILE, out_dir / SIDECAR_FILE
    partial, partial_sidecar = out_dir / ".model.onnx.partial", out_dir / ".model.json.partial"
    try:
        write_onnx(model, check_images[:1], partial)
        session = verified_session(partial, model, check_images)
        max_diff, agreement = compare(session, model, check_images)
        split_name = "test" if "test" in index.splits else "val"
        eval_top1 = onnx_accuracy(session, cfg, index.splits[split_name])
        checks = {"max_abs_logit_diff": max_diff, "top1_agreement": agreement, "images": len(check_images)}
        sidecar = describe(cfg, classes, kind, source)
        latency = measure_latency(session, check_images)
        sidecar.update(checks=checks, evaluation={"split": split_name, "onnx_top1": eval_top1}, latency=latency)
        partial_sidecar.write_text(json.dumps(sidecar, indent=2))
        os.replace(partial, onnx_path)
        os.replace(partial_sidecar, sidecar_path)
    finally:
        for leftover in (partial, partial_sidecar):
            leftover.unlink(missing_ok=True)
    return Exported(onnx_path, sidecar_path, max_diff, agreement, split_name, eval_top1, latency, len(classes))


def measure_latency(session: Any, images: Any, repeats: int = 7) -> dict[str, Any]:
    """onnxruntime's median latency at batch 1 and 32 on the machine that exports: what users deploy."""
    import numpy as np

    result: dict[str, Any] = {"threads": session.get_session_options().intra_op_num_threads or os.cpu_count()}
    for batch in (1, 32):
        inputs = {"input": np.resize(images.numpy(), (batch, *images.shape[1:])).astype(np.float32)}
        session.run(["logits"], inputs)  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            session.run(["logits"], inputs)
            times.append(time.perf_counter() - started)
        result[f"batch_{batch}_ms"] = round(1000 * statistics.median(times), 3)
    result["provider"] = session.get_providers()[0]
    result["device"] = latency_device()
    return result


LATENCY_PROVIDER = "CPUExecutionProvider"  # inference_session's, on every machine: latency is a CPU figure


def latency_device() -> str:
    """Where onnxruntime measured: ``CPU AMD EPYC 7B13 (x86_64, 16 cores), CPUExecutionProvider``. The CPU model
    tells two x86_64 machines apart (the latency cache is keyed by this)."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")  # fmt: skip
    model = model or platform.processor() or platform.system()
    return f"CPU {model} ({platform.machine()}, {os.cpu_count()} cores), {LATENCY_PROVIDER}"


def describe(cfg: Config, classes: list[str], kind: str, source: Source) -> dict[str, Any]:
    """The sidecar: what a consumer needs to feed the graph and read its output, and where it came from."""
    return {
        "format": "rayjob-onnx-v1",
        "onnx": ONNX_FILE,
        "input": {"name": "input", "shape": ["batch", 3, cfg.data.image_size, cfg.data.image_size]},
        "output": {"name": "logits", "shape": ["batch", len(classes)]},
        "preprocessing": {
            "in_graph": False,
            "steps": "RGB; short side scaled down to stored_size if longer; resize short side to image_size; "
            "center crop; scale to [0, 1]; normalize",
            "stored_size": stored_size(cfg.data.image_size),
            "image_size": cfg.data.image_size,
            "mean": cfg.data.mean,
            "std": cfg.data.std,
        },
        "classes": dict(enumerate(classes)),
        "backbone": cfg.model.backbone,
        "weights": kind,
        "opset": OPSET,
        "trial_id": source.trial_id,
        "metrics": source.metrics or {},
        "heldout": source.heldout,
        "selection": source.selection,  # null: the sweep's (or run's) best
        "source_checkpoint": source.checkpoint,
        "config": cfg.to_dict(),
    }


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


def inference_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session with full graph optimizations and a fixed thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=[LATENCY_PROVIDER])


def verified_session(path: Path, model: Any, images: Any) -> ort.InferenceSession:
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
    from rayjob.data.dataset import eval_batches

    correct = total = 0
    for images, labels in eval_batches(cfg.data, split, 64):
        logits = session.run(["logits"], {"input": images.numpy()})[0]
        correct += int((logits.argmax(1) == labels.numpy()).sum())
        total += len(labels)
    return correct / max(1, total)


def print_export(done: Exported, folder: str) -> None:
    """What was written (under ``folder``, which may be a URI the files are uploaded to) and its checks."""
    say(f"onnx model     {folder}/{done.onnx_path.name}")
    say(f"sidecar        {folder}/{done.sidecar_path.name}")
    say(f"checks         onnx.checker ok; vs PyTorch: max |logit diff| {done.max_abs_diff:.2e}, "
        f"top-1 agreement {done.top1_agreement:.0%}; batch 1 and {CHECK_IMAGES} ok")
    say(f"onnx top-1     {done.eval_top1:.4f} on {done.eval_split}")
    lat = done.latency
    say(f"latency        {lat['batch_1_ms']:.2f} ms at batch 1, {lat['batch_32_ms']:.1f} ms at batch 32 "
          f"(onnxruntime, {lat['threads']} threads)")  # fmt: skip
    say(f"               on {lat['device']}")
