"""ASHA for small sweeps: a rung judges a trial only once it holds enough results to rank it.

Ray's ``AsyncHyperBandScheduler`` lets a trial go on when it reaches a rung that holds nothing to compare
it with. In a sweep of 10 trials on 2 slots the first to reach a rung is the one with the fastest
backbone, not the best, and it runs to the end whatever its value; measured on the quickstart, such
trials at chance were kept and trained 4-5 more epochs each. Here a trial that reaches a rung holding
fewer than ``reduction_factor`` results (itself included) is paused (Tune checkpoints it and frees its
slot for the next trial). When the rung has enough results, each paused trial is ranked: the top
1/reduction_factor resume from their checkpoint, the others stop. When no more trials can come, the
paused ones are ranked on what their rung holds. This is the promotion rule of ASHA as published (Li et
al., 2020): a rung promotes the top 1/eta of what it holds, so nothing is promoted from fewer than eta.

The base trial is recorded in the rungs like any other but never paused or stopped early.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher

Rung = dict[str, float]  # trial id -> its metric at the rung, signed by Ray so that larger is better


class QuorumASHA(AsyncHyperBandScheduler):
    """ASHA that pauses trials on rungs with too few results and never stops the ``keep`` config early."""

    def __init__(self, keep: dict[str, Any] | None, num_samples: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self.num_samples = num_samples
        self.quorum = min(math.ceil(kwargs.get("reduction_factor", 4)), num_samples)
        self.waiting: dict[str, Rung] = {}  # paused trial id -> the rung it waits on
        self.promoted: set[str] = set()  # paused trials ranked into the top: resume them first
        self.losing: set[str] = set()  # ranked out while Tune was still pausing them: stop once paused

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        held = self._rungs_holding(trial.trial_id)
        action = super().on_trial_result(tune_controller, trial, result)
        self.promoted.discard(trial.trial_id)
        ended = result.get(self._time_attr, 0) >= self._max_t
        if self.keep is not None and trial.config == self.keep:
            return TrialScheduler.STOP if ended else TrialScheduler.CONTINUE
        reached = [rung for rung in self._rungs_holding(trial.trial_id) if all(rung is not r for r in held)]
        for rung in reached:
            if action == TrialScheduler.CONTINUE and not ended and len(rung) < self.quorum:
                self.waiting[trial.trial_id] = rung
                action = TrialScheduler.PAUSE
            elif len(rung) >= self.quorum:
                self._rank_waiting(tune_controller, rung)
        return action

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        """Promoted paused trials first, then new ones; a paused trial waiting on its rung never resumes.
        A paused trial this scheduler does not know (a sweep resumed with ``--resume`` starts a new one)
        resumes, as under Tune's own schedulers."""
        trials = tune_controller.get_trials()
        for trial in trials:
            if trial.trial_id in self.losing and trial.status == "PAUSED":
                self.losing.discard(trial.trial_id)
                _stop_paused(tune_controller, trial)
        if self.waiting and len(trials) >= self.num_samples and not any(t.status == "PENDING" for t in trials):
            for rung in {id(r): r for r in self.waiting.values()}.values():
                if not any(t.status == "RUNNING" and t.trial_id not in rung for t in trials):
                    self._rank_waiting(tune_controller, rung)  # no trial can still reach it
        for trial in trials:
            if trial.status == "PAUSED" and trial.trial_id in self.promoted:
                return trial
        pending = next((t for t in trials if t.status == "PENDING"), None)
        if pending is not None:
            return pending
        held = self.waiting.keys() | self.losing
        return next((t for t in trials if t.status == "PAUSED" and t.trial_id not in held), None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._forget(trial.trial_id)
        super().on_trial_remove(tune_controller, trial)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._forget(trial.trial_id)
        super().on_trial_complete(tune_controller, trial, result)

    def _forget(self, trial_id: str) -> None:
        self.waiting.pop(trial_id, None)
        self.promoted.discard(trial_id)
        self.losing.discard(trial_id)

    def _rank_waiting(self, tune_controller: Any, rung: Rung) -> None:
        """Promote the paused trials of ``rung`` that rank in its top 1/reduction_factor; stop the others."""
        cutoff = self._brackets[0].cutoff(rung)  # every bracket has the same reduction factor
        by_id = {t.trial_id: t for t in tune_controller.get_trials()}
        for trial_id in [t for t, r in self.waiting.items() if r is rung]:
            del self.waiting[trial_id]
            if rung[trial_id] >= cutoff:
                self.promoted.add(trial_id)
            elif trial_id in by_id and by_id[trial_id].status == "PAUSED":
                _stop_paused(tune_controller, by_id[trial_id])
            else:  # Tune is still saving it to pause it: stopping it now would leave it paused for good
                self.losing.add(trial_id)

    def _rungs_holding(self, trial_id: str) -> list[Rung]:
        bracket = self._trial_info.get(trial_id)  # Ray's ASHA internals: the trial's bracket and its rungs
        return [recorded for _, recorded in bracket._rungs if trial_id in recorded] if bracket else []


def _stop_paused(tune_controller: Any, trial: Any) -> None:
    """Stop a paused trial, and have Tune write its new status: Tune rewrites a trial's saved state only
    when it marks it, which it does not for a trial that holds no process (its saved status stays PAUSED)."""
    tune_controller.stop_trial(trial)
    controller = getattr(tune_controller, "_tune_controller", tune_controller)  # Tune's wrapper hides this
    mark = getattr(controller, "_mark_trial_to_checkpoint", None)
    if mark is not None:
        mark(trial)


class PauseAwareLimiter(ConcurrencyLimiter):
    """Tune's concurrency limit on new suggestions, not counting trials paused on a rung (they hold no slot)."""

    def __init__(self, searcher: Searcher, max_concurrent: int, scheduler: QuorumASHA | None) -> None:
        super().__init__(searcher, max_concurrent=max_concurrent)
        self.scheduler = scheduler

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        paused = set(self.scheduler.waiting) if self.scheduler else set()  # promoted ones resume next: counted
        if self._limit_concurrency and len(self.live_trials - paused) >= self.max_concurrent:
            return None
        suggestion = self.searcher.suggest(trial_id)
        if suggestion not in (None, Searcher.FINISHED):
            self.live_trials.add(trial_id)
            self.num_unfinished_live_trials += 1
        return suggestion
