"""``python -m rayjob.export RESULTS``: the post-hook of a sweep, or the ONNX export of one run.

- A sweep folder (it holds ``trials.jsonl``; local or a URI): per-trial plots, the best trial to
  verified ONNX, ``report.md``: the same post-hook ``rayjob.tune`` runs at its end.
- A sweep folder with ``--fastest-within PP``: the trial with the lowest onnxruntime latency whose metric is
  within PP points of the best's, to ``<sweep>/export_fastest`` (the sidecar records the rule).
- A ``rayjob.train`` run folder: its best epoch's checkpoint to ``<run>/export``.
- A ``checkpoint.ckpt`` (path or URI): that checkpoint to ``<its run>/export``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rayjob.cli import run_main
from rayjob.config import Config
from rayjob.console import say
from rayjob.errors import RayjobError
from rayjob.layout import EXPORT_DIR, FASTEST_DIR
from rayjob.outputs.finish import finish_sweep
from rayjob.outputs.heldout import held_out
from rayjob.outputs.latency import fastest_within, sweep_latencies
from rayjob.outputs.onnx import ExportError, Source, export_checkpoint, print_export
from rayjob.results import SweepOutcome, best_trial, read_records
from rayjob.runs import best_checkpoint, read_run_config
from rayjob.storage import exists, is_uri, join, local_copy, scratch_dir, upload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.export",
        description="Export the best checkpoint's EMA weights to ONNX, check it against PyTorch with onnxruntime\n"
        "and write its sidecar (model.json). On a sweep folder it redoes all that follows a sweep:\n"
        "per-trial plots, the held-out evaluation, the export and report.md.",
        epilog="examples:\n  python -m rayjob.export results/quickstart\n"
        "  python -m rayjob.export s3://bucket/results/t4-sweep\n"
        "  python -m rayjob.export results/quickstart --fastest-within 1.0\n"
        "  python -m rayjob.export results/run/checkpoint_000004/checkpoint.ckpt --out exported/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", help="a sweep folder, a rayjob.train run folder, or a checkpoint.ckpt (or URIs)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <run>/export)")
    parser.add_argument(
        "--fastest-within",
        type=float,
        metavar="PP",
        help="on a sweep folder: export the trial with the lowest onnxruntime latency whose metric at its last "
        f"epoch is within PP percentage points of the best's (to <sweep>/{FASTEST_DIR} unless --out)",
    )
    args = parser.parse_args(argv)
    results: str = args.results.rstrip("/")
    if not exists(results):
        raise ExportError(f"{results} does not exist; give a sweep folder, a run folder or a checkpoint.ckpt")

    records = read_records(results) if not results.endswith(".ckpt") else None
    if args.fastest_within is not None:
        if records is None:
            raise ExportError(f"--fastest-within needs a sweep folder (with trials.jsonl); {results} is not one")
        if args.fastest_within < 0:
            raise ExportError(f"--fastest-within {args.fastest_within:g}: give the points as a number >= 0, e.g. 1.0")
        return export_fastest(results, records, args.fastest_within, args.out)
    if records is not None and args.out is None:
        return finish_saved_sweep(results, records)
    return export_one(results, args.out)


def finish_saved_sweep(experiment: str, records: list) -> int:
    cfg = read_run_config(experiment) or Config()
    outcome = SweepOutcome(experiment, cfg.search.metric, cfg.search.mode, cfg.trainer.max_epochs, records)
    heldout = held_out(outcome)
    for label, text in heldout.lines() if heldout else []:
        say(f"{label:15s}{text}")
    return finish_sweep(outcome, cfg, heldout)


def export_fastest(experiment: str, records: list, points: float, out: Path | None) -> int:
    """Export the fastest trial within ``points`` pp of the best, with the usual checks; the sidecar says so."""

    cfg = read_run_config(experiment) or Config()
    best = best_trial(records, cfg.search.metric, cfg.search.mode)
    if best is None:
        raise ExportError(f"{experiment} holds no finished trial or checkpoint to export; run a sweep first")
    if "loss" in cfg.search.metric:
        raise ExportError(f"--fastest-within compares accuracy points; this sweep's metric is {cfg.search.metric}")
    latencies = sweep_latencies(records, cfg, experiment)
    chosen = fastest_within(records, latencies, best, points)
    metric = cfg.search.metric
    say(f"best trial     {best.trial_id}: {metric} {best.final:.4f}, {latencies[best.trial_id]:.3f} ms at batch 1")
    say(f"fastest within {points:g} pp: {chosen.trial_id}: {metric} {chosen.final:.4f}, "
          f"{latencies[chosen.trial_id]:.3f} ms at batch 1")  # fmt: skip
    selection = {
        "rule": f"fastest within {points:g} pp of the best {metric} at the last epoch",
        "best_trial": best.trial_id,
        "best_value": best.final,
        "batch_1_ms": {"chosen": latencies[chosen.trial_id], "best": latencies[best.trial_id]},
    }
    target = str(out) if out is not None else join(experiment, FASTEST_DIR)
    with scratch_dir("rayjob-export-") as tmp:
        local = local_copy(chosen.checkpoint, Path(tmp) / "checkpoint")
        done_dir = Path(tmp) / "out" if is_uri(target) else Path(target)
        metrics = {metric: chosen.final, "epoch": chosen.epochs}
        done = export_checkpoint(local, done_dir, Source(chosen.checkpoint, chosen.trial_id, metrics, None, selection))
        if is_uri(target):
            upload(done_dir, target)
    print_export(done, target)
    return 0


def export_one(results: str, out: Path | None) -> int:
    """The best checkpoint of a run folder, or the given checkpoint, to ONNX."""
    if results.endswith(".ckpt"):
        checkpoint, metrics = results, {}
        run = results.rsplit("/", 2)[0]
    elif is_uri(results):
        raise RayjobError(f"{results}: give the URI of a sweep folder or of a checkpoint.ckpt inside the run")
    else:
        cfg = read_run_config(results) or Config()
        found = best_checkpoint(Path(results), cfg.search.metric, cfg.search.mode)
        if found is None:
            raise ExportError(f"{results} holds no finished trial or checkpoint to export; run a sweep or training")
        checkpoint, metrics, run = str(found[0]), found[1], results
    target = str(out) if out is not None else join(run, EXPORT_DIR)
    with scratch_dir("rayjob-export-") as tmp:
        say(f"exporting {checkpoint}")
        local = local_copy(checkpoint, Path(tmp) / "checkpoint")
        done_dir = Path(tmp) / "out" if is_uri(target) else Path(target)
        done = export_checkpoint(local, done_dir, Source(checkpoint, None, metrics))
        if is_uri(target):
            upload(done_dir, target)
    print_export(done, target)
    return 0


if __name__ == "__main__":
    run_main(main)
