"""``python -m rayjob.export RESULTS``: the post-hook of a sweep, or the ONNX export of one run.

- A sweep folder (it holds ``trials.jsonl``; local or a URI): per-trial plots, the best trial to
  verified ONNX, ``report.md``: the same post-hook ``rayjob.tune`` runs at its end.
- A ``rayjob.train`` run folder: its best epoch's checkpoint to ``<run>/export``.
- A ``checkpoint.ckpt`` (path or URI): that checkpoint to ``<its run>/export``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rayjob.cli import run_main
from rayjob.config import Config
from rayjob.errors import RayjobError
from rayjob.layout import EXPORT_DIR
from rayjob.outputs.onnx import ExportError, Source, export_checkpoint, print_export
from rayjob.runs import best_checkpoint, read_run_config
from rayjob.storage import exists, is_uri, join, local_copy, scratch_dir, upload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.export",
        description="Export the best checkpoint's EMA weights to ONNX, verify it against PyTorch, write a sidecar. "
        "On a sweep folder it runs the whole post-hook: per-trial plots, export, report.md.",
        epilog="examples:\n  python -m rayjob.export results/quickstart\n"
        "  python -m rayjob.export s3://bucket/results/t4-sweep\n"
        "  python -m rayjob.export results/run/checkpoint_000004/checkpoint.ckpt --out exported/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", help="a sweep folder, a rayjob.train run folder, or a checkpoint.ckpt (or URIs)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <run>/export)")
    args = parser.parse_args(argv)
    results: str = args.results.rstrip("/")
    if not exists(results):
        raise ExportError(f"{results} does not exist; give a sweep folder, a run folder or a checkpoint.ckpt")
    from rayjob.sweep.results import read_records

    records = read_records(results) if not results.endswith(".ckpt") else None
    if records is not None and args.out is None:
        return finish_saved_sweep(results, records)
    return export_one(results, args.out)


def finish_saved_sweep(experiment: str, records: list) -> int:
    from rayjob.outputs.finish import finish_sweep
    from rayjob.outputs.heldout import held_out
    from rayjob.sweep.results import SweepOutcome

    cfg = read_run_config(experiment) or Config()
    outcome = SweepOutcome(experiment, cfg.search.metric, cfg.search.mode, cfg.trainer.max_epochs, records)
    heldout = held_out(outcome)
    for label, text in heldout.lines() if heldout else []:
        print(f"{label:15s}{text}")
    return finish_sweep(outcome, cfg, heldout)


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
        print(f"exporting {checkpoint}", flush=True)
        local = local_copy(checkpoint, Path(tmp) / "checkpoint")
        done_dir = Path(tmp) / "out" if is_uri(target) else Path(target)
        done = export_checkpoint(local, done_dir, Source(checkpoint, None, metrics))
        if is_uri(target):
            upload(done_dir, target)
    print_export(done, target)
    return 0


if __name__ == "__main__":
    run_main(main)
