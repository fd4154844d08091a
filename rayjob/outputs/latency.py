"""Accuracy against latency: every trial's onnxruntime latency at batch 1, its Pareto front, and the
"fastest within PP points of the best" rule of ``python -m rayjob.export RESULTS --fastest-within PP``.

Latency depends on the architecture and the input size, not on the trained weights, so it is measured once
per (backbone, image size, classes) on the exporting machine: the best trial's own export gives its
architecture's; any other is exported once more from a randomly initialised copy. Both are cached in
``export/latency.json`` of the sweep. Accuracy is the trial's selection metric at its last epoch (val):
choosing among trials on test would spend the held-out split on selection; the chosen model's test top-1
is measured at its export as usual.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from rayjob.config import Config
from rayjob.data.files import scan_dataset
from rayjob.data.sources import resolve_root
from rayjob.layout import LATENCY_FILE
from rayjob.outputs.onnx import inference_session, latency_device, measure_latency, write_onnx
from rayjob.ranking import score
from rayjob.results import TrialRecord
from rayjob.storage import join, read_text, write_text


def architecture(record: TrialRecord, cfg: Config) -> tuple[str, int]:
    """(backbone, image size) of a trial: its searched values over the sweep's config."""
    backbone = str(record.params.get("model.backbone", cfg.model.backbone))
    return backbone, int(record.params.get("data.image_size", cfg.data.image_size))


def trial_latencies(records: list[TrialRecord], cfg: Config, experiment: str, classes: int) -> dict[str, float]:
    """Batch-1 latency (ms) of each trial's architecture; measured once each, cached with the sweep."""
    cache = _read_cache(experiment)
    measured = cache["batch_1_ms"]
    archs = {_key(*arch, classes): arch for arch in (architecture(r, cfg) for r in records)}
    missing = {key: arch for key, arch in archs.items() if key not in measured}
    for key, (backbone, image_size) in missing.items():
        measured[key] = measure_architecture(backbone, image_size, classes)
    if missing:
        write_text(join(experiment, LATENCY_FILE), json.dumps(cache, indent=2))
    return {r.trial_id: measured[_key(*architecture(r, cfg), classes)] for r in records}


def remember_latency(experiment: str, record: TrialRecord, cfg: Config, classes: int, batch_1_ms: float) -> None:
    """Cache a latency already measured on this machine (the exported best's): its architecture is then not
    exported a second time, with random weights, for the report (latency does not depend on the weights)."""
    cache = _read_cache(experiment)
    cache["batch_1_ms"][_key(*architecture(record, cfg), classes)] = batch_1_ms
    write_text(join(experiment, LATENCY_FILE), json.dumps(cache, indent=2))


def _read_cache(experiment: str) -> dict[str, Any]:
    """The sweep's latency cache, empty when there is none or it was measured on another machine."""
    text = read_text(join(experiment, LATENCY_FILE))

    machine = latency_device()
    cache: dict[str, Any] = json.loads(text) if text else {}
    if cache.get("machine") != machine:  # measured elsewhere: not this machine's figure
        cache = {"machine": machine, "batch_1_ms": {}}
    return cache


def sweep_latencies(records: list[TrialRecord], cfg: Config, experiment: str) -> dict[str, float]:
    """``trial_latencies`` with the class count of the sweep's dataset."""

    classes = len(scan_dataset(resolve_root(cfg.data)).classes)
    return trial_latencies(records, cfg, experiment, classes)


def measure_architecture(backbone: str, image_size: int, classes: int) -> float:
    """Median onnxruntime latency (ms) at batch 1 of ``backbone`` at ``image_size`` px, random weights."""
    import torch

    from rayjob.model.backbones import build_backbone

    model = build_backbone(backbone, classes).eval()
    images = torch.rand(2, 3, image_size, image_size)
    with tempfile.TemporaryDirectory(prefix="rayjob-latency-") as tmp:
        path = Path(tmp) / "model.onnx"
        write_onnx(model, images[:1], path)
        return float(measure_latency(inference_session(path), images)["batch_1_ms"])


def pareto_front(points: dict[str, tuple[float, float]], mode: str) -> set[str]:
    """Trial ids no other trial beats on both accuracy (by ``mode``) and latency (lower is better)."""
    front = set()
    for trial_id, (value, ms) in points.items():
        beaten = any(
            score(v, mode) >= score(value, mode) and m <= ms and (score(v, mode) > score(value, mode) or m < ms)
            for other, (v, m) in points.items()
            if other != trial_id
        )
        if not beaten:
            front.add(trial_id)
    return front


def fastest_within(
    records: list[TrialRecord], latencies: dict[str, float], best: TrialRecord, points: float
) -> TrialRecord:
    """The fastest trial (ties: the more accurate) that ran every epoch and whose metric at its last epoch
    is within ``points`` percentage points of the best's (an accuracy metric)."""
    floor = (best.final or 0.0) - points / 100
    candidates = [r for r in records if r.status == "COMPLETED" and r.final is not None and r.final >= floor - 1e-12]
    candidates = candidates or [best]
    return min(candidates, key=lambda r: (latencies.get(r.trial_id, float("inf")), -(r.final or 0.0), r.trial_id))


def _key(backbone: str, image_size: int, classes: int) -> str:
    return f"{backbone}@{image_size}px/{classes}"

