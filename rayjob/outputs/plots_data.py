"""What the report's plots draw, as plain values: the report computes them (and tests check them), the plots
only draw them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One trial in ``best_so_far.png``."""

    number: int  # in start order, from 1
    trial_id: str
    ended_s: float | None  # seconds from the sweep's first trial start to this trial's last report
    value: float  # the metric at its last epoch
    completed: bool  # ran every epoch (else: stopped early, and not a final model)
    best_so_far: float | None  # the best value of the completed trials up to this one


@dataclass(frozen=True)
class Curve:
    """One trial in ``learning_curves.png``."""

    trial_id: str
    epochs: list[int]
    values: list[float]
    status: str  # COMPLETED, STOPPED, DIVERGED, ERROR, UNFINISHED
    role: str  # "best", "base" or ""
