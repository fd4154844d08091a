"""The sweep's time budget (``search.time_budget``): after it no new trial starts, running trials stop at their
next epoch's end (keeping that checkpoint), and trials paused on a rung stop where they are.

The clock is the driver's: it starts when ``python -m rayjob.tune`` begins the sweep (``start``) and lives in
this process only. The searcher, scheduler and stopper that read it are pickled with the experiment and
restored by Tune, so they ask this module (``over()``) instead of holding a deadline of their own.
A sweep the budget ended is finished: its record (``ENDED_FILE``) makes ``--resume`` refuse it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from ray.tune import Stopper

from rayjob.layout import ENDED_FILE
from rayjob.storage import join, read_text, write_text

_deadline: float | None = None


def start(seconds: float | None) -> None:
    """Start this driver's budget clock (``None``: no budget)."""
    global _deadline
    _deadline = None if seconds is None else time.monotonic() + seconds


def over() -> bool:
    """True once this driver's time budget is spent."""
    return _deadline is not None and time.monotonic() >= _deadline


class BudgetStopper(Stopper):
    """Tune's public ``Stopper``: a running trial stops at the first epoch it ends after the budget."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return over()

    def stop_all(self) -> bool:
        return False  # running trials end at their epoch's end, not mid-epoch


@dataclass
class Ended:
    """Why and how a sweep ended before ``num_samples`` trials: written once, read by --resume and the report."""

    reason: str  # "time_budget"
    budget_s: float
    trials: int


def record_ended(experiment: str, ended: Ended) -> None:
    write_text(join(experiment, ENDED_FILE), json.dumps(asdict(ended)))


def read_ended(experiment: str) -> Ended | None:
    text = read_text(join(experiment, ENDED_FILE))
    return Ended(**json.loads(text)) if text else None


def describe(ended: Ended) -> str:
    """One line for the summary and the report."""
    return f"the time budget ({ended.budget_s:g} s) ended the sweep after {ended.trials} trials"
