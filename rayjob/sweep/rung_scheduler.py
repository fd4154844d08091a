"""rayjob's ASHA: a scheduler of its own on Tune's public ``TrialScheduler`` interface, its state in a file.

The rules (asynchronous successive halving, Li et al. 2020, as published):
- Rungs sit at ``grace_period x reduction_factor^k`` epochs below ``max_t``. With ``brackets`` > 1, trials
  are dealt round-robin to brackets whose first rung is ``reduction_factor`` times later.
- A rung ranks a trial only once it holds ``reduction_factor`` results. A trial that reaches a rung
  holding fewer is paused (Tune checkpoints it and its slot starts the next trial); once the rung has
  enough, its paused trials in the top ``1/reduction_factor`` resume and the others stop. When no more
  trials can reach the rung, its paused trials are ranked on what it holds. (Ray's asynchronous ASHA lets
  a trial go on from a rung that holds nothing to compare it with: on 2 slots, the fastest backbone.)
- A rung ranks by ``signal`` and breaks ties by ``tiebreak`` (val top-1, then val loss): trials at chance
  all score 0.1000 at epoch 1, and arrival order is no ranking. Trials equal on both go on together, and so
  do trials within ``margin`` of the cut (``search.stop_margin``): a rung signal is one noisy run, and a
  difference inside its run-to-run noise says nothing about which point is better.
- The base trial is recorded in the rungs like any other, and never paused or stopped early.

Everything the scheduler knows is plain data (``RungState``), written to ``scheduler/state.json`` in the
experiment folder (or URI) after every change and read back when Tune restores the sweep (``--resume``):
Tune rebuilds a scheduler from what it pickled at the start (ray-project/ray#30838), so rungs, paused
trials and the trials it stopped would otherwise be lost. Tune also hands every unfinished trial back as
PENDING and starts it: a trial waiting on its rung is paused again at once with its checkpoint. It reads
nothing private of Ray: trials by ``get_trials()``, stopping by ``stop_trial()``, pausing by
``pause_trial()``, as Tune's own schedulers (HyperBand, PBT) do.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from rayjob.ranking import score
from rayjob.storage import read_text, write_text
from rayjob.sweep import budget

Key = tuple[float, float]  # (signal, tiebreak), each signed so that larger is better


@dataclass
class RungState:
    """The scheduler's memory, JSON-able: rungs by bracket and epoch, paused, promoted and stopped trials."""

    rungs: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)  # bracket -> epoch -> id -> key
    bracket_of: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, list[int]] = field(default_factory=dict)  # paused on a rung: id -> [bracket, epoch]
    promoted: list[str] = field(default_factory=list)  # ranked into the top while paused: resume them first
    losing: list[str] = field(default_factory=list)  # ranked out while Tune was still pausing them
    stopped: list[str] = field(default_factory=list)  # stopped early by this scheduler, in order

    def rung(self, bracket: int, epoch: int) -> dict[str, list[float]]:
        return self.rungs.setdefault(str(bracket), {}).setdefault(str(epoch), {})


def read_stopped(state_file: str) -> set[str]:
    """The trials a sweep's scheduler stopped early (its state file), for the trials table."""
    text = read_text(state_file)
    return set(json.loads(text)["stopped"]) if text else set()


class RungScheduler(FIFOScheduler):
    """ASHA with a quorum per rung, tie-breaks, a protected base config and its state saved with the sweep."""

    def __init__(
        self,
        *,
        max_t: int,
        grace_period: int,
        reduction_factor: float,
        num_samples: int,
        keep: dict[str, Any] | None = None,
        brackets: int = 1,
        signal: tuple[str, str] = ("val/acc_top1", "max"),
        tiebreak: tuple[str, str] = ("val/loss", "min"),
        state_file: str | None = None,
        time_attr: str = "epoch",
        margin: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_t, self.eta, self.keep = max_t, reduction_factor, keep
        self.num_samples, self.signal, self.tiebreak = num_samples, signal, tiebreak
        self.time_attr, self.state_file, self.margin = time_attr, state_file, margin
        self.quorum = min(math.ceil(reduction_factor), num_samples)
        self.milestones = [_rungs(grace_period * reduction_factor**b, reduction_factor, max_t) for b in range(brackets)]
        self.state = RungState()  # a new sweep starts empty (and overwrites a stale file at its first change)
        self._loaded = True
        self._pausing: set[str] = set()  # told to pause in this process: Tune is saving them

    def __setstate__(self, pickled: dict[str, Any]) -> None:
        """Tune unpickles the scheduler of the sweep's start on restore: the state file is the truth."""
        self.__dict__.update(pickled)
        self._loaded = self.state_file is None
        self._pausing = set()

    def record_earlier(self, trial_id: str, curve: list[float | None]) -> None:
        """Put a finished trial of the sweep being extended on the rungs it reached (its metric there; no
        tie-break value is kept in the records, so it ranks below an equal new trial)."""
        state = self._state()
        state.bracket_of[trial_id] = 0
        for epoch in self.milestones[0]:
            if epoch <= len(curve) and curve[epoch - 1] is not None:
                state.rung(0, epoch)[trial_id] = [score(curve[epoch - 1], self.signal[1]), -math.inf]

    # Tune's interface ------------------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the rung signal is the scheduler's own; Tune's metric is the searcher's

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        state = self._state()
        if trial.trial_id not in state.bracket_of:
            state.bracket_of[trial.trial_id] = len(state.bracket_of) % len(self.milestones)
            self._save()

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        state = self._state()
        trial_id, epoch = trial.trial_id, int(result.get(self.time_attr, 0))
        if epoch >= self.max_t:
            return TrialScheduler.STOP
        bracket = state.bracket_of.setdefault(trial_id, 0)
        if epoch not in self.milestones[bracket]:
            return TrialScheduler.CONTINUE
        rung = state.rung(bracket, epoch)
        if trial_id in rung:  # an epoch redone after a restart: it was judged already
            return TrialScheduler.CONTINUE
        rung[trial_id] = list(self._key(result))
        action = TrialScheduler.CONTINUE
        if not self._is_kept(trial):
            if len(rung) < self.quorum:
                state.waiting[trial_id] = [bracket, epoch]
                self._pausing.add(trial_id)
                action = TrialScheduler.PAUSE
            elif not self._in_top(rung, trial_id):
                state.stopped.append(trial_id)
                action = TrialScheduler.STOP
        if len(rung) >= self.quorum:
            self._rank_waiting(tune_controller, bracket, epoch)
        self._save()
        return action

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        """Promoted paused trials first, then new ones; a trial paused on its rung waits there. A paused trial
        this scheduler holds nothing about resumes, as under Tune's own schedulers.

        After ``Tuner.restore`` Tune gives every unfinished trial, paused ones included, the status PENDING,
        and starts pending trials whatever the scheduler chooses. A trial waiting on its rung that Tune started
        so is paused again at once, keeping its checkpoint (``pause_trial`` without a save, as Tune's PBT
        does): it trains nothing and frees its slot."""
        state = self._state()
        trials = tune_controller.get_trials()
        if budget.over():  # the time budget is spent: nothing starts or resumes; waiting trials end here
            for trial in trials:
                if _idle(trial):
                    self._stop(tune_controller, trial)
            return None
        for trial in trials:
            if _idle(trial) and (trial.trial_id in state.losing or trial.trial_id in state.stopped):
                self._stop(tune_controller, trial)
            elif trial.status == "RUNNING" and trial.trial_id in state.waiting and trial.trial_id not in self._pausing:
                tune_controller.pause_trial(trial, should_checkpoint=False)
            elif trial.status != "RUNNING":
                self._pausing.discard(trial.trial_id)
        self._rank_ready(tune_controller, trials)
        for trial in trials:
            if _idle(trial) and trial.trial_id in state.promoted:
                return trial
        held = self._held()
        pending = next((t for t in trials if t.status == "PENDING" and t.trial_id not in held), None)
        if pending is not None:
            return pending
        return next((t for t in trials if t.status == "PAUSED" and t.trial_id not in held), None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._forget(trial.trial_id)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._forget(trial.trial_id)

    def debug_string(self) -> str:
        state = self._state()
        rungs = ", ".join(f"epoch {e}: {len(r)}" for b in state.rungs.values() for e, r in b.items())
        return f"RungScheduler: {len(state.waiting)} paused on a rung; rungs {rungs or 'empty'}"

    def held_trials(self) -> set[str]:
        """Trials paused on a rung: they hold no slot (the searcher's limiter does not count them)."""
        return set(self._state().waiting)

    # ranking ---------------------------------------------------------------------------------------

    def _key(self, result: dict[str, Any]) -> Key:
        return score(result.get(self.signal[0]), self.signal[1]), score(result.get(self.tiebreak[0]), self.tiebreak[1])

    def _in_top(self, rung: dict[str, list[float]], trial_id: str) -> bool:
        """In the top ``floor(n / eta)`` (at least 1) by (signal, tiebreak); equals of the cutoff go on too, and
        so does a trial whose signal trails the cutoff's by no more than the margin (noise decides nothing)."""
        keys = sorted((tuple(k) for k in rung.values()), reverse=True)
        cutoff = keys[max(1, math.floor(len(keys) / self.eta)) - 1]
        key = tuple(rung[trial_id])
        return key >= cutoff or (self.margin > 0 and key[0] >= cutoff[0] - self.margin)

    def _rank_waiting(self, tune_controller: Any, bracket: int, epoch: int) -> None:
        """Promote the paused trials of a rung that rank in its top; stop the others."""
        state = self._state()
        rung = state.rung(bracket, epoch)
        by_id = {t.trial_id: t for t in tune_controller.get_trials()}
        for trial_id in [t for t, where in state.waiting.items() if where == [bracket, epoch]]:
            del state.waiting[trial_id]
            if self._in_top(rung, trial_id):
                state.promoted.append(trial_id)
                continue
            state.stopped.append(trial_id)
            trial = by_id.get(trial_id)
            if trial is not None and _idle(trial):
                self._stop(tune_controller, trial)
            else:  # Tune is still saving it to pause it: stopping it now would leave it paused for good
                state.losing.append(trial_id)
        self._save()

    def _rank_ready(self, tune_controller: Any, trials: list[Any]) -> None:
        """Rank rungs whose paused trials can rank now: the rung has its quorum (after a restore), or no trial
        can still reach it (every trial has started and none running is short of it)."""
        state, held = self._state(), self._held()
        all_started = len(trials) >= self.num_samples and not any(
            t.status == "PENDING" and t.trial_id not in held for t in trials
        )
        for bracket, epoch in {tuple(where) for where in state.waiting.values()}:
            rung = state.rung(bracket, epoch)
            can_come = any(t.status == "RUNNING" and t.trial_id not in rung for t in trials)
            if len(rung) >= self.quorum or (all_started and not can_come):
                self._rank_waiting(tune_controller, bracket, epoch)

    # bookkeeping -----------------------------------------------------------------------------------

    def _is_kept(self, trial: Any) -> bool:
        return self.keep is not None and trial.config == self.keep

    def _held(self) -> set[str]:
        """Trials that must not start: waiting on a rung, or ranked out."""
        state = self._state()
        return set(state.waiting) | set(state.losing) | set(state.stopped)

    def _stop(self, tune_controller: Any, trial: Any) -> None:
        state = self._state()
        if trial.trial_id in state.losing:
            state.losing.remove(trial.trial_id)
        tune_controller.stop_trial(trial)
        self._save()

    def _forget(self, trial_id: str) -> None:
        """A trial that ended no longer waits or resumes; the file is written only when that changed it."""
        state = self._state()
        if trial_id in state.waiting or trial_id in state.promoted:
            state.waiting.pop(trial_id, None)
            state.promoted = [t for t in state.promoted if t != trial_id]
            self._save()

    def _state(self) -> RungState:
        if not self._loaded:
            text = read_text(self.state_file) if self.state_file else None
            self.state = RungState(**json.loads(text)) if text else RungState()
            self._loaded = True
        return self.state

    def _save(self) -> None:
        if self.state_file is not None:
            write_text(self.state_file, json.dumps(asdict(self.state)))


def _idle(trial: Any) -> bool:
    """Paused, or pending again after a restore: Tune can stop it without waiting for it."""
    return trial.status in ("PAUSED", "PENDING")


def _rungs(first: float, eta: float, max_t: int) -> list[int]:
    """Rung epochs ``first x eta^k`` below ``max_t`` (whole epochs)."""
    epochs: list[int] = []
    t = first
    while round(t) < max_t:
        epochs.append(round(t))
        t *= eta
    return epochs


class SlotLimiter(Searcher):
    """Tune's concurrency limit on new suggestions, not counting trials paused on a rung (they hold no slot);
    no suggestion at all once the time budget is spent.

    A searcher wrapper on Tune's public ``Searcher`` interface (what ``ConcurrencyLimiter`` does, plus the
    paused trials)."""

    def __init__(self, searcher: Searcher, max_concurrent: int, scheduler: RungScheduler | None) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher, self.max_concurrent, self.scheduler = searcher, max_concurrent, scheduler
        self.live: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if budget.over():
            return Searcher.FINISHED
        held = self.scheduler.held_trials() if self.scheduler else set()  # promoted ones resume next: counted
        if len(self.live - held) >= self.max_concurrent:
            return None
        suggestion = self.searcher.suggest(trial_id)
        if suggestion not in (None, Searcher.FINISHED):
            self.live.add(trial_id)
        return suggestion

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self.searcher.on_trial_complete(trial_id, result=result, error=error)
        self.live.discard(trial_id)

    def add_evaluated_point(self, *args: Any, **kwargs: Any) -> None:
        self.searcher.add_evaluated_point(*args, **kwargs)

    def get_state(self) -> dict[str, Any]:
        """What Tune saves of a searcher wrapper with the experiment (the wrapped searcher saves itself)."""
        return {"live": sorted(self.live), "max_concurrent": self.max_concurrent}

    def set_state(self, state: dict[str, Any]) -> None:
        self.live, self.max_concurrent = set(state["live"]), state["max_concurrent"]

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)

    def on_pause(self, trial_id: str) -> None:
        self.searcher.on_pause(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.searcher.on_unpause(trial_id)
