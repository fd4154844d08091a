"""After a sweep: per-trial plots, the best trial's EMA weights to verified ONNX, and the report.

Runs at the end of ``python -m rayjob.tune`` and from ``python -m rayjob.export <sweep folder>``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from rayjob.config import Config
from rayjob.export import ExportError, export_checkpoint, find_best_checkpoint, print_export
from rayjob.observe import render_run_plots
from rayjob.report import write_report


def post_sweep(experiment: Path, cfg: Config) -> int:
    """Returns 0, or 1 when the export failed (the report says why; nothing of the sweep is lost)."""
    started = time.perf_counter()
    with open(experiment / "trials.csv") as f:
        for row in csv.DictReader(f):
            if row["checkpoint"] and Path(row["checkpoint"]).is_file():
                render_run_plots(Path(row["checkpoint"]).parent, experiment / f"trial-{row['trial_id']}")
    code = 0
    try:
        checkpoint, metrics = find_best_checkpoint(experiment)
        print(f"exporting the best checkpoint {checkpoint}", flush=True)
        done = export_checkpoint(checkpoint, experiment / "export", metrics)
        print_export(done)
        note = (
            f"ONNX: `{done.onnx_path}` (sidecar `{done.sidecar_path.name}`); onnxruntime vs PyTorch max |logit diff| "
            f"{done.max_abs_diff:.2e}, top-1 agreement {done.top1_agreement:.0%}; ONNX top-1 on {done.eval_split}: "
            f"{done.eval_top1:.4f}."
        )
    except ExportError as err:
        print(f"error: ONNX export failed: {err}", flush=True)
        note, code = f"ONNX export failed: {err}", 1
    report = write_report(experiment, cfg, note)
    print(f"report         {report}", flush=True)
    print(f"post-hook      {time.perf_counter() - started:.1f} s (plots, export, checks, report)", flush=True)
    return code
