"""After a sweep: per-trial plots, the best trial's EMA weights to verified ONNX, and the report.

Takes the sweep's outcome as it is (``SweepOutcome``: its records and its one best trial), so the
summary, the report and ``model.json`` name the same trial. Everything is rendered in a local folder
and then uploaded, so a sweep on ``s3://`` gets the same outputs as one on a local disk.
"""

from __future__ import annotations

import time
from pathlib import Path

from rayjob.config import Config
from rayjob.console import say
from rayjob.errors import RayjobError
from rayjob.layout import EXPORT_DIR, trial_dir_name
from rayjob.outputs.heldout import Heldout
from rayjob.outputs.latency import remember_latency
from rayjob.outputs.onnx import Exported, Source, export_checkpoint, print_export
from rayjob.outputs.report import write_report
from rayjob.outputs.run_plots import fetch_plot_data, render_run_plots
from rayjob.results import SweepOutcome
from rayjob.storage import is_uri, join, local_copy, scratch_dir, upload


def finish_sweep(
    outcome: SweepOutcome, cfg: Config, heldout: Heldout | None = None, started: float | None = None
) -> int:
    """Returns 0, or 1 when the export failed (the report says why; nothing of the sweep is lost).
    ``heldout``: the pick's and the base trial's test accuracy, into the report and the sidecar, evaluated
    from ``started`` (``time.perf_counter()``) on: the post-hook's time includes it."""
    started = time.perf_counter() if started is None else started
    with scratch_dir("rayjob-finish-") as tmp:
        scratch = Path(tmp)
        out = Path(outcome.experiment) if not is_uri(outcome.experiment) else scratch / "out"
        render_trial_plots(outcome, out, scratch)
        done, note = export_best(outcome, out / EXPORT_DIR, scratch, heldout)
        if done is not None:  # the report's latency of the best's architecture: this measurement, not a 2nd export
            remember_latency(outcome.experiment, outcome.best, cfg, done.classes, done.latency["batch_1_ms"])
        report = write_report(outcome, cfg, out, note, heldout)
        if is_uri(outcome.experiment):
            upload(out, outcome.experiment)
    say(f"report         {join(outcome.experiment, report.name)}")
    what = "held-out evaluation, plots, export, checks, report"
    say(f"post-hook      {time.perf_counter() - started:.1f} s ({what})")
    return 0 if done is not None or outcome.best is None else 1


def render_trial_plots(outcome: SweepOutcome, out: Path, scratch: Path) -> None:
    """Confusion matrix, history and samples of each trial's last epoch into ``out/trial-<id>/``."""
    for record in outcome.records:
        if not record.checkpoint:
            continue
        data = fetch_plot_data(record.checkpoint, scratch / "plot-data" / record.trial_id)
        if data is not None:
            render_run_plots(data, out / trial_dir_name(record.trial_id))


def export_best(
    outcome: SweepOutcome, out_dir: Path, scratch: Path, heldout: Heldout | None = None
) -> tuple[Exported | None, str]:
    """The best trial's last checkpoint to ONNX; returns the result (None on failure) and a note for the report."""
    best = outcome.best
    if best is None:
        return None, "ONNX: no trial has a checkpoint to export."
    try:
        say(f"exporting trial {best.trial_id} to ONNX (checks and latency follow)")
        checkpoint = local_copy(best.checkpoint, scratch / "checkpoint")
        metrics = {outcome.metric: best.final, "epoch": best.epochs}
        source = Source(best.checkpoint, best.trial_id, metrics, heldout.to_dict() if heldout else None)
        done = export_checkpoint(checkpoint, out_dir, source)
    except RayjobError as err:  # a failed check, or a checkpoint that cannot be read
        say(f"error: ONNX export failed: {err}")
        return None, f"ONNX export failed: {err}"
    print_export(done, join(outcome.experiment, EXPORT_DIR))
    note = (
        f"ONNX: `{EXPORT_DIR}/{done.onnx_path.name}` (sidecar `{done.sidecar_path.name}`) from trial "
        f"`{best.trial_id}`; onnxruntime vs PyTorch max |logit diff| {done.max_abs_diff:.2e}, top-1 agreement "
        f"{done.top1_agreement:.0%}; ONNX top-1 on {done.eval_split}: {done.eval_top1:.4f}. onnxruntime latency "
        f"on the exporting machine ({done.latency['device']}, {done.latency['threads']} threads): "
        f"{done.latency['batch_1_ms']:.2f} ms at batch 1, {done.latency['batch_32_ms']:.1f} ms at batch 32."
    )
    return done, note
