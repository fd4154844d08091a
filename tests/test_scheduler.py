"""ASHA as rayjob runs it: a rung ranks a trial only once it holds enough results; the base trial runs on.

The scheduler is driven directly with results in a fixed order: the order a 2-slot sweep produces when a
searched trial's backbone is faster than the base trial's. The controller below stands in for Tune's: it
holds the trials and records which ones the scheduler stops. No Ray cluster is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from rayjob.sweep.asha import QuorumASHA

BASE = {"model.backbone": "resnet18"}
RUNG = 2  # the first rung; max_t 6 and reduction factor 4 give no other
CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP


@dataclass
class Trial:
    """What a scheduler reads of a Tune trial."""

    trial_id: str
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "RUNNING"


@dataclass
class Controller:
    """The part of Tune's controller a scheduler may call: the trials, and stopping one."""

    trials: list[Trial]
    stopped: list[str] = field(default_factory=list)

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        trial.status = "TERMINATED"
        self.stopped.append(trial.trial_id)


def scheduler(cls: type = QuorumASHA, num_samples: int = 10) -> AsyncHyperBandScheduler:
    args = {"time_attr": "epoch", "metric": "acc", "mode": "max", "max_t": 6, "grace_period": RUNG,
            "reduction_factor": 4}  # fmt: skip
    return cls(BASE, num_samples, **args) if cls is QuorumASHA else cls(**args)


def report(asha: AsyncHyperBandScheduler, tune: Controller, trial: Trial, epoch: int, acc: float) -> str:
    action = asha.on_trial_result(tune, trial, {"epoch": epoch, "acc": acc})
    trial.status = {PAUSE: "PAUSED", STOP: "TERMINATED"}.get(action, trial.status)
    return action


def sweep(names: list[str]) -> tuple[AsyncHyperBandScheduler, Controller, dict[str, Trial]]:
    trials = {name: Trial(name, dict(BASE) if name == "base" else {}) for name in names}
    asha, tune = scheduler(), Controller(list(trials.values()))
    for t in trials.values():
        asha.on_trial_add(tune, t)
    return asha, tune, trials


def test_a_trial_alone_on_a_rung_waits_and_is_ranked_once_the_rung_has_enough() -> None:
    asha, tune, t = sweep(["fast", "base", "weak", "good"])
    assert report(asha, tune, t["fast"], RUNG, 0.10) == PAUSE  # alone on the rung: nothing to rank it against
    assert report(asha, tune, t["base"], RUNG, 0.90) == CONTINUE  # the base trial never waits
    assert report(asha, tune, t["weak"], RUNG, 0.50) == STOP  # below the top quarter of {0.10, 0.90}
    assert tune.stopped == [] and t["fast"].status == "PAUSED"  # 3 results: still waiting
    assert report(asha, tune, t["good"], RUNG, 0.95) == CONTINUE  # ranked on 3 others: final
    assert tune.stopped == ["fast"]  # 4 results: 0.10 is not in the top quarter
    assert asha.choose_trial_to_run(tune) is None  # nothing paused is promoted


def test_a_trial_ranked_out_while_tune_still_pauses_it_is_stopped_once_paused() -> None:
    """Stopping a trial whose pause is still saving would leave it paused for good and the sweep unfinished."""
    asha, tune, t = sweep(["fast", "base", "b", "c"])
    assert report(asha, tune, t["fast"], RUNG, 0.10) == PAUSE
    t["fast"].status = "RUNNING"  # Tune is still saving its checkpoint
    for name, acc in [("base", 0.90), ("b", 0.80), ("c", 0.95)]:
        report(asha, tune, t[name], RUNG, acc)
    assert tune.stopped == ["b"]  # b waited too (3 results) and is paused: stopped at once; "fast" is not
    t["fast"].status = "PAUSED"
    asha.choose_trial_to_run(tune)
    assert tune.stopped == ["b", "fast"]


def test_a_waiting_trial_that_ranks_in_the_top_resumes_before_new_trials() -> None:
    asha, tune, t = sweep(["fast", "base", "b", "c", "new"])
    t["new"].status = "PENDING"
    assert report(asha, tune, t["fast"], RUNG, 0.99) == PAUSE
    report(asha, tune, t["base"], RUNG, 0.90)
    report(asha, tune, t["b"], RUNG, 0.50)
    assert asha.choose_trial_to_run(tune) is t["new"]  # 3 results: "fast" is not ranked yet
    report(asha, tune, t["c"], RUNG, 0.40)
    assert tune.stopped == [] and asha.choose_trial_to_run(tune) is t["fast"]


def test_when_no_more_trials_can_come_waiting_trials_are_ranked_on_what_the_rung_holds() -> None:
    asha, tune, t = sweep(["fast", "base", "slow"])
    asha.num_samples = 3
    assert report(asha, tune, t["fast"], RUNG, 0.20) == PAUSE
    report(asha, tune, t["base"], RUNG, 0.90)
    assert asha.choose_trial_to_run(tune) is None and tune.stopped == []  # "slow" can still reach the rung
    t["slow"].status = "TERMINATED"  # it ended before the rung
    assert asha.choose_trial_to_run(tune) is None and tune.stopped == ["fast"]


def test_rays_asha_keeps_the_first_arrival_however_bad() -> None:
    """What the rule changes: Ray's ASHA lets a trial go on from an empty rung and never ranks it again."""
    asha, tune = scheduler(AsyncHyperBandScheduler), Controller([])
    fast = Trial("fast")
    asha.on_trial_add(tune, fast)
    assert report(asha, tune, fast, RUNG, 0.10) == CONTINUE
    for i, acc in enumerate([0.90, 0.50, 0.95]):
        other = Trial(f"t{i}")
        asha.on_trial_add(tune, other)
        report(asha, tune, other, RUNG, acc)
    assert report(asha, tune, fast, RUNG + 2, 0.40) == CONTINUE


def test_the_base_trial_is_never_stopped_early_but_ends_at_max_t() -> None:
    asha, tune, t = sweep(["t0", "t1", "t2", "t3", "base"])
    for name in ["t0", "t1", "t2", "t3"]:
        report(asha, tune, t[name], RUNG, 0.99)
    assert report(asha, tune, t["base"], RUNG, 0.10) == CONTINUE  # far below the cutoff, kept anyway
    assert report(asha, tune, t["base"], RUNG + 1, 0.20) == CONTINUE
    assert report(asha, tune, t["base"], 6, 0.30) == STOP  # max_t: done like every trial


def test_a_paused_trial_from_before_a_resume_runs_again_but_a_waiting_one_does_not() -> None:
    """After --resume the scheduler is new: trials the old one paused must not stay paused forever."""
    asha, tune, t = sweep(["fast", "old"])
    assert report(asha, tune, t["fast"], RUNG, 0.5) == PAUSE
    t["old"].status = "PAUSED"  # paused by the scheduler of the interrupted run
    assert asha.choose_trial_to_run(tune) is t["old"]
