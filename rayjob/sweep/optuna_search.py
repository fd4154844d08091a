"""Optuna's ask/tell behind Tune's ``Searcher`` interface, on public APIs of both, never proposing a point twice.

Why not Ray's ``OptunaSearch``:
- On a finite space (the quickstart's is a grid of 64 points) TPE re-proposes its best point: in 20
  Optuna-only 10-trial sweeps of a 64-point grid with a synthetic objective (a one-off check), 1.4 trials a
  sweep were duplicates, 14% of the budget spent on a result that is already known (a fixed
  ``trainer.seed`` trains the same point to the same curve). Here TPE proposes on a scratch copy of the
  study: a proposal of a point already evaluated or running is told FAIL there (TPE ignores failed trials)
  and drawn again, and after a few duplicates in a row an unseen point is taken at random. The point taken
  is then asked in the sweep's own study, which so holds the trials that ran and nothing else (what
  ``optuna-dashboard`` shows the user).
- Intermediate values are recorded by the epoch a trial reports: a resumed TorchTrainer trial counts
  Tune's ``training_iteration`` from 1 again, and Optuna dropped its values (``step=1 is already reported``).
- With ``ordered=True`` (``search.ordered_choices``, off by default) numeric choices of 3 or more values are
  ordered: TPE proposes on the scratch copy with each such parameter as the index of its value in ascending
  order, an integer it models with a kernel that spans neighbours, so a learning rate that scored well at
  5e-4 makes 1e-3 likelier too; as a category each value is learnt apart. The sweep's own study holds the
  values.
- A trial the scheduler stopped before ``max_epochs`` is not told its rung value as a final one (Ray tells
  it COMPLETE, as if an epoch-1 value were a final one). ``tell_stopped="pruned"``: told PRUNED, which TPE
  ranks below every finished trial. ``"estimate"``: told COMPLETE with its last value plus the median gain
  the study's finished trials made from that epoch to their end (TPE ranks it where it would likely have
  finished; the trial keeps ``stopped_at_epoch`` and ``estimated`` as user attributes). With no finished
  trial to estimate from, it is told PRUNED.
"""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import random
import statistics
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import TrialState
from ray.tune.search import Searcher

REDRAWS = 4  # TPE proposals of a known point in a row before an unseen point is taken at random


class StudySearcher(Searcher):
    def __init__(
        self,
        space: dict[str, BaseDistribution],
        metric: str,
        mode: str,
        max_epochs: int,
        sampler: optuna.samplers.BaseSampler,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        study_name: str = "rayjob",
        storage: Any = None,
        seed: int = 0,
        warm_trials: list[Any] | None = None,
        tell_stopped: str = "pruned",
        ordered: bool = False,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space, self.max_epochs, self.tell_stopped = space, max_epochs, tell_stopped
        direction = "maximize" if mode == "max" else "minimize"
        self.study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler,
                                         direction=direction, load_if_exists=True)  # fmt: skip
        # the points to run before TPE proposes, handed to the study one at a time as trials start, so that the
        # study never holds a trial that did not run (a restored study's searcher restores its own queue)
        self.queued: list[dict[str, Any]] = []
        if not self.study.trials:  # a new study
            self.study.add_trials(warm_trials or [])  # an earlier sweep's (search.warm_start)
            self.queued = [dict(point) for point in points_to_evaluate or []]
        self.running: dict[str, optuna.Trial] = {}  # Tune trial id -> its Optuna trial
        self.reported: dict[str, set[int]] = {}
        self.rng = random.Random(seed)
        self.grid = _finite_points(space)
        self.duplicates_drawn = 0  # proposals of a known point, failed on the scratch copy and drawn again
        self.ordinal = ordered_choices(space) if ordered else {}  # key -> its values, ascending
        self.proposal_space = {
            key: IntDistribution(0, len(self.ordinal[key]) - 1) if key in self.ordinal else dist
            for key, dist in space.items()
        }

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # space, metric and mode were given at construction

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if trial_id in self.running:
            return dict(self.running[trial_id].params)
        if self.queued:
            self.study.enqueue_trial(self.queued.pop(0))
        if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):  # asked for: runs as asked
            return self._start(trial_id, self.study.ask(self.space))
        scratch = self._scratch()
        for _ in range(REDRAWS):
            proposal = scratch.ask(self.proposal_space)
            params = self._values(proposal.params)
            if self._twin(params) is None:
                self.study.enqueue_trial(params)
                return self._start(trial_id, self.study.ask(self.space))
            scratch.tell(proposal, state=TrialState.FAIL)  # TPE ignores it when it draws again
            self.duplicates_drawn += 1
        self._enqueue_unseen()
        return self._start(trial_id, self.study.ask(self.space))  # unseen (or, every point seen, TPE's)

    def _scratch(self) -> optuna.Study:
        """An in-memory copy of the study, running trials included (the constant liar reads them), where
        proposals are drawn and duplicates failed without reaching the sweep's own study."""
        scratch = optuna.create_study(sampler=self.study.sampler, directions=self.study.directions)
        scratch.add_trials([self._as_proposed(t) for t in self.study.get_trials(deepcopy=False)])
        return scratch

    def _as_proposed(self, trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
        """``trial`` in the proposal space: each ordered choice as its value's index."""
        keys = [key for key in self.ordinal if key in trial.params]
        if not keys:
            return trial
        trial = copy.copy(trial)
        params, distributions = dict(trial.params), dict(trial.distributions)
        for key in keys:
            params[key] = self.ordinal[key].index(params[key])
            distributions[key] = self.proposal_space[key]
        trial.params, trial.distributions = params, distributions
        return trial

    def _values(self, proposed: dict[str, Any]) -> dict[str, Any]:
        """A proposal's values: each ordered choice's index back to its value."""
        return {key: self.ordinal[key][v] if key in self.ordinal else v for key, v in proposed.items()}

    def _start(self, trial_id: str, trial: optuna.Trial) -> dict[str, Any]:
        self.running[trial_id] = trial
        self.reported[trial_id] = set()
        return dict(trial.params)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        trial, value, epoch = self.running.get(trial_id), result.get(self.metric), result.get("epoch")
        if trial is None or not _finite(value) or epoch is None or int(epoch) in self.reported[trial_id]:
            return
        trial.report(float(value), int(epoch))
        self.reported[trial_id].add(int(epoch))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        trial = self.running.pop(trial_id, None)
        reported = self.reported.pop(trial_id, set())
        if trial is None:
            return
        value = (result or {}).get(self.metric)
        if not error and result is None and reported:  # stopped while paused on a rung: Tune passes no result
            self._tell_stopped(trial, None, None)
        elif error or not _finite(value):
            self.study.tell(trial, state=TrialState.FAIL)
        elif int((result or {}).get("epoch", self.max_epochs)) < self.max_epochs:
            self._tell_stopped(trial, int(result["epoch"]), float(value))  # its value is an early epoch's
        else:
            self.study.tell(trial, float(value))

    def _tell_stopped(self, trial: optuna.Trial, epoch: int | None, value: float | None) -> None:
        """A trial the scheduler stopped at ``epoch`` with ``value`` (None: its last reported epoch): PRUNED, or
        (estimate) COMPLETE at its likely final value."""
        if epoch is None or value is None:
            steps = self.study.get_trials(deepcopy=False)[trial.number].intermediate_values
            epoch = max(steps) if steps else None
            value = steps[epoch] if epoch is not None else None
        gain = self._median_gain(epoch) if epoch is not None and self.tell_stopped == "estimate" else None
        if gain is None or value is None:
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        trial.set_user_attr("stopped_at_epoch", epoch)
        trial.set_user_attr("estimated", True)
        self.study.tell(trial, value + gain)

    def _median_gain(self, epoch: int) -> float | None:
        """The median of (final value - value at ``epoch``) over the study's trials that ran to the end."""
        gains = [
            t.value - t.intermediate_values[epoch]
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and epoch in t.intermediate_values and not t.user_attrs.get("estimated")
        ]
        return statistics.median(gains) if gains else None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))

    def _twin(self, params: dict[str, Any]) -> int | None:
        """The Optuna trial number of a trial of the study with the same values (finished or running), if any."""
        if self.grid is None:
            return None
        key = _key(params)
        live = {t.number for t in self.running.values()}
        for other in self.study.get_trials(deepcopy=False):
            if not (other.state == TrialState.COMPLETE or other.state == TrialState.PRUNED or other.number in live):
                continue
            if other.params and _key(other.params) == key:
                return other.number
        return None

    def _enqueue_unseen(self) -> None:
        """Queue a random point no trial has had (when TPE keeps proposing known ones)."""
        seen = {_key(t.params) for t in self.study.get_trials(deepcopy=False) if t.params}
        unseen = [p for p in self.grid or [] if _key(p) not in seen]
        if unseen:
            self.study.enqueue_trial(self.rng.choice(unseen))


def ordered_choices(space: dict[str, BaseDistribution]) -> dict[str, list[Any]]:
    """The categorical parameters whose 3 or more choices are all numbers, each with its choices ascending."""
    ordered = {}
    for key, dist in space.items():
        choices = list(dist.choices) if isinstance(dist, CategoricalDistribution) else []
        if len(choices) >= 3 and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
            ordered[key] = sorted(choices)
    return ordered


def _finite_points(space: dict[str, BaseDistribution], limit: int = 100_000) -> list[dict[str, Any]] | None:
    """Every point of a space of choices and integer ranges (None when it is continuous or huge)."""
    values: list[list[Any]] = []
    for dist in space.values():
        if isinstance(dist, CategoricalDistribution):
            values.append(list(dist.choices))
        elif isinstance(dist, IntDistribution) and dist.step == 1 and not dist.log:
            values.append(list(range(dist.low, dist.high + 1)))
        else:
            return None
    if math.prod(len(v) for v in values) > limit:
        return None
    return [dict(zip(space, combo, strict=True)) for combo in itertools.product(*values)]


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
