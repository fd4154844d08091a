"""The results contract of a sweep: one typed record per trial, written once, read back with its types.

``trials.jsonl`` holds the records (JSON keeps 1e-05 a number and resnet18 a string); ``trials.csv`` is
the same table for people and spreadsheets, never read back. ``SweepOutcome.best`` is decided once
(``best_trial``): the summary, the report and the exported model all name that trial.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rayjob.layout import TRIALS_CSV, TRIALS_JSONL
from rayjob.ranking import score, tiebreak_of
from rayjob.storage import join, read_text, write_text

STATUSES = ("COMPLETED", "STOPPED", "DIVERGED", "ERROR", "UNFINISHED")


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # one of STATUSES: STOPPED = stopped early by the scheduler
    params: dict[str, Any]  # searched dotted keys -> the trial's values
    best: float | None  # the peak of the sweep metric over the trial's epochs (None: never reported)
    best_epoch: int
    epochs: int  # epochs trained
    curve: list[float | None] = field(default_factory=list)  # the metric at epoch 1, 2, ...
    checkpoint: str = ""  # the last epoch's checkpoint.ckpt (the model the trial ends with), a path or a URI
    final: float | None = None  # the metric at the last epoch: what selects the best trial
    final_tiebreak: float | None = None  # the tie-break signal there (ranking.tiebreak_of: val loss)
    error: str = ""
    is_base: bool = False  # the trial of the config's own values
    started: float | None = None  # unix time of the trial's first report minus its duration
    ended: float | None = None
    driver_node: str = ""  # Ray node ids: the trial's driver, and each training worker (comma-separated)
    worker_nodes: str = ""
    world_size: int = 1
    run_s: float = 0.0  # seconds it held its resources: Tune's time per report, summed (pauses not counted)
    cpus: float = 0.0  # what one trial reserves (workers x CPUs/GPUs per worker)
    gpus: float = 0.0

    @property
    def cpu_hours(self) -> float:
        return self.cpus * self.run_s / 3600

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.run_s / 3600

    def value_at(self, epoch: int) -> float | None:
        return self.curve[epoch - 1] if 0 < epoch <= len(self.curve) else None


@dataclass
class SweepOutcome:
    """What a sweep produced; the post-hook takes it as it is."""

    experiment: str  # local folder or URI
    metric: str
    mode: str
    max_epochs: int
    records: list[TrialRecord]
    finished: bool = True  # False: interrupted before every trial ended
    ended: str = ""  # why it ended before num_samples trials (the time budget), in words
    price_per_hour: float | None = None  # per GPU, or per CPU on CPU-only sweeps (search.price_per_hour)
    warm_start: str = ""  # how many earlier trials seeded the study (search.warm_start), in words

    @property
    def best(self) -> TrialRecord | None:
        return best_trial(self.records, self.metric, self.mode)

    @property
    def base(self) -> TrialRecord | None:
        return next((r for r in self.records if r.is_base), None)

    @property
    def epochs(self) -> int:
        return sum(r.epochs for r in self.records)

    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.records) for status in STATUSES}

    def compute(self) -> str:
        """``0.12 CPU-hours, 0.00 GPU-hours; cost 0.04 at 0.30 per CPU-hour``: resources reserved x wall time."""
        cpu_h, gpu_h = sum(r.cpu_hours for r in self.records), sum(r.gpu_hours for r in self.records)
        text = f"{cpu_h:.2f} CPU-hours, {gpu_h:.2f} GPU-hours"
        if self.price_per_hour is not None:
            unit, hours = ("GPU", gpu_h) if gpu_h > 0 else ("CPU", cpu_h)
            text += f"; cost {hours * self.price_per_hour:.2f} at {self.price_per_hour:g} per {unit}-hour"
        return text


def best_trial(records: list[TrialRecord], metric: str, mode: str) -> TrialRecord | None:
    """The one definition of the best trial: of the trials that ran every epoch (all with a checkpoint when
    none did), the best ``metric`` at its last epoch (the model it ends with and that is exported, not the
    peak of a noisy curve); ties broken by the tie-break signal there (val loss), then the base trial (a
    searched point that only ties it found nothing better), then the smallest trial id."""
    scored = [r for r in records if r.checkpoint and score(r.final, mode) > -math.inf]
    candidates = [r for r in scored if r.status == "COMPLETED"] or scored
    if not candidates:
        return None
    tie_mode = tiebreak_of(metric)[1]
    return min(candidates, key=lambda r: (-score(r.final, mode), -score(r.final_tiebreak, tie_mode), not r.is_base,
                                          r.trial_id))  # fmt: skip


def write_records(outcome: SweepOutcome) -> list[str]:
    """``trials.jsonl`` and ``trials.csv`` into the experiment folder (or URI); returns their paths."""
    records = sorted(outcome.records, key=lambda r: r.trial_id)
    jsonl = "".join(json.dumps(_jsonable(asdict(r))) + "\n" for r in records)
    paths = [join(outcome.experiment, TRIALS_JSONL), join(outcome.experiment, TRIALS_CSV)]
    write_text(paths[0], jsonl)
    write_text(paths[1], _csv_text(records))
    return paths


def read_records(experiment: str) -> list[TrialRecord] | None:
    """The records of a sweep folder, or None when it has no ``trials.jsonl``."""
    text = read_text(join(experiment, TRIALS_JSONL))
    if text is None:
        return None
    return [TrialRecord(**json.loads(line)) for line in text.splitlines() if line.strip()]


def _csv_text(records: list[TrialRecord]) -> str:
    keys = sorted({k for r in records for k in r.params})
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["trial_id", "status", "base", *keys, "final", "final_tiebreak", "best", "best_epoch", "epochs",
              "run_s", "cpu_hours", "gpu_hours", "checkpoint", "error"]  # fmt: skip
    writer.writerow(header)
    for r in records:
        values = [r.params.get(k, "") for k in keys]
        numbers = ["" if v is None else v for v in (r.final, r.final_tiebreak, r.best)]
        compute = [f"{r.run_s:.1f}", f"{r.cpu_hours:.4f}", f"{r.gpu_hours:.4f}"]
        writer.writerow([r.trial_id, r.status, int(r.is_base), *values, *numbers, r.best_epoch, r.epochs,
                         *compute, r.checkpoint, r.error])  # fmt: skip
    return out.getvalue()


def _jsonable(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
