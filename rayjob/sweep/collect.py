"""Tune's results -> the sweep's typed trial records (``rayjob.results``)."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import ExperimentAnalysis

from rayjob.config import Config
from rayjob.layout import CHECKPOINT_FILE, SCHEDULER_STATE_FILE
from rayjob.ranking import best, tiebreak_of
from rayjob.results import SweepOutcome, TrialRecord
from rayjob.storage import join, with_scheme
from rayjob.sweep.resources import trial_needs
from rayjob.sweep.rung_scheduler import read_stopped
from rayjob.sweep.space import trial_values


def collect_outcome(grid: Any, cfg: Config, experiment: str, base: dict[str, Any] | None) -> SweepOutcome:
    """One record per trial of ``grid`` (a Tune ``ResultGrid``); ``base`` is the base trial's values."""

    analysis = ExperimentAnalysis(grid.experiment_path, storage_filesystem=grid.filesystem)
    statuses = {t.trial_id: t.status for t in analysis.trials}
    # Tune does not rewrite the saved state of a paused trial that is stopped: the scheduler's file knows.
    for trial_id in read_stopped(join(experiment, SCHEDULER_STATE_FILE)) & statuses.keys():
        statuses[trial_id] = "TERMINATED"
    records = [_record(result, cfg, experiment, base, statuses) for result in grid]
    finished = all(status in ("TERMINATED", "ERROR") for status in statuses.values())
    finished = finished and len(statuses) >= cfg.search.num_samples
    return SweepOutcome(experiment, cfg.search.metric, cfg.search.mode, cfg.trainer.max_epochs, records, finished,
                        price_per_hour=cfg.search.price_per_hour)  # fmt: skip


def _record(result: Any, cfg: Config, experiment: str, base: dict[str, Any] | None, statuses: dict) -> TrialRecord:
    metric, mode = cfg.search.metric, cfg.search.mode
    needs = trial_needs(cfg)
    history = result.metrics_dataframe
    reports = [] if history is None else history.to_dict("records")
    top = best(reports, lambda r: r.get(metric), mode) or {}
    last = max(reports, key=lambda r: (r.get("epoch", 0), r.get("timestamp", 0))) if reports else {}
    trial_id = str(last.get("trial_id") or (result.metrics or {}).get("trial_id") or result.path.rsplit("-", 1)[-1])
    params = trial_values(result.config, cfg)
    epochs = int(max((r.get("epoch", 0) for r in reports), default=0))
    return TrialRecord(
        trial_id=trial_id,
        status=trial_status(result.error is not None, reports, cfg.trainer.max_epochs, statuses.get(trial_id, "")),
        params=params,
        best=_number(top.get(metric)),
        best_epoch=int(top.get("epoch", 0) or 0),
        epochs=epochs,
        curve=_curve(reports, metric, epochs),
        checkpoint=_last_checkpoint(result, last, experiment),
        final=_number(last.get(metric)),
        final_tiebreak=_number(last.get(tiebreak_of(metric)[0])),
        error="" if result.error is None else str(result.error).strip().splitlines()[-1][:300],
        is_base=base is not None and params == base,
        started=_number(reports[0]["timestamp"] - reports[0]["time_total_s"]) if reports else None,
        ended=_number(last.get("timestamp")),
        driver_node=str(last.get("driver_node", "")),
        worker_nodes=str(last.get("worker_nodes", "")),
        world_size=int(last.get("world_size", 1) or 1),
        run_s=float(sum(r.get("time_this_iter_s") or 0.0 for r in reports)),
        cpus=float(needs.get("CPU", 0.0)),
        gpus=float(needs.get("GPU", 0.0)),
    )


def trial_status(errored: bool, reports: list[dict[str, Any]], max_epochs: int, tune_status: str) -> str:
    """ERROR, DIVERGED, COMPLETED (all epochs), STOPPED (ended early by the scheduler) or UNFINISHED
    (interrupted; ``--resume`` continues it). ``tune_status`` is Tune's: TERMINATED, ERROR, RUNNING, ..."""
    epochs = int(max((r.get("epoch", 0) for r in reports), default=0))
    if errored:
        return "ERROR"
    if any(r.get("diverged") == 1.0 for r in reports):
        return "DIVERGED"
    if epochs >= max_epochs:
        return "COMPLETED"
    return "STOPPED" if tune_status == "TERMINATED" else "UNFINISHED"


def _curve(reports: list[dict[str, Any]], metric: str, epochs: int) -> list[float | None]:
    """The metric per epoch; a restarted trial's repeated epoch counts once (its last report)."""
    by_epoch = {int(r["epoch"]): _number(r.get(metric)) for r in reports if r.get("epoch")}
    return [by_epoch.get(e) for e in range(1, epochs + 1)]


def _last_checkpoint(result: Any, last: dict[str, Any], experiment: str) -> str:
    """The last epoch's checkpoint: in-process trials keep it in Tune (which always keeps the newest);
    TorchTrainer trials report their Train checkpoint's path."""
    if result.checkpoint is not None:
        return join(with_scheme(result.checkpoint.path, experiment), CHECKPOINT_FILE)
    path = last.get("checkpoint_path")
    return join(with_scheme(path, experiment), CHECKPOINT_FILE) if isinstance(path, str) and path else ""


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
