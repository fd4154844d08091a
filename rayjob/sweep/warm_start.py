"""``search.warm_start``: a new sweep's Optuna study starts with an earlier sweep's finished trials.

An earlier trial is taken when its values fit the new space (the same searched keys, each value inside the
new distribution) and it has a value: a trial that ran every epoch enters the new study as COMPLETE with its
final value, one the scheduler stopped early as PRUNED with its values by epoch (as this sweep's searcher
tells its own stopped trials). Diverged, failed and unfinished trials, and those outside the space, are
counted and left out. TPE learns from the taken trials and never proposes their points again on a finite
space; the earlier sweep's files are only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.results import TrialRecord, read_records
from rayjob.sweep.space import optuna_distributions


@dataclass
class WarmStart:
    source: str
    trials: list[Any] = field(default_factory=list)  # optuna FrozenTrials to add to the new study
    outside: int = 0  # values or keys that do not fit the new space
    failed: int = 0  # diverged, errored or unfinished: no value to learn from

    def describe(self) -> str:
        return (f"{len(self.trials)} earlier trials taken from {self.source}; {self.outside} did not fit the "
                f"space, {self.failed} had no value (diverged, errored or unfinished)")  # fmt: skip


def load_warm_start(cfg: Config) -> WarmStart | None:
    """The earlier sweep's trials that fit ``cfg``'s space; an error naming the folder when it holds no sweep."""
    source = cfg.search.warm_start
    if source is None:
        return None
    records = read_records(source)
    if records is None:
        raise ConfigError(
            f"search.warm_start: {source} holds no sweep (no trials.jsonl); point it at the folder (or URI) of a "
            "sweep that ran to its end"
        )
    return fitting_trials(source, records, cfg)


def fitting_trials(source: str, records: list[TrialRecord], cfg: Config) -> WarmStart:
    space = optuna_distributions(cfg)
    warm = WarmStart(source)
    for record in records:
        steps = {epoch: value for epoch, value in enumerate(record.curve, 1) if value is not None}
        if record.status not in ("COMPLETED", "STOPPED") or record.final is None or not steps:
            warm.failed += 1
            continue
        if set(record.params) != set(space):
            warm.outside += 1
            continue
        completed = record.status == "COMPLETED"
        try:
            trial = optuna.trial.create_trial(
                params=record.params,
                distributions=space,
                value=record.final if completed else None,
                intermediate_values=steps,
                state=optuna.trial.TrialState.COMPLETE if completed else optuna.trial.TrialState.PRUNED,
                user_attrs={"warm_start": f"{source}: trial {record.trial_id}"},
            )
        except ValueError:  # a value outside the new distribution
            warm.outside += 1
            continue
        warm.trials.append(trial)
    return warm
