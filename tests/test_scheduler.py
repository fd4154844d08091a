"""rayjob's ASHA (``RungScheduler``): quorum per rung, tie-breaks, the base trial, state saved for --resume.

The scheduler is driven directly with results in a fixed order: the order a 2-slot sweep produces when a
searched trial's backbone is faster than the base trial's. The controller below stands in for Tune's: it
holds the trials and records which ones the scheduler stops (the two calls Tune's own schedulers make).
No Ray cluster is needed.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from rayjob.sweep.rung_scheduler import RungScheduler, read_stopped

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
    """The part of Tune's controller a scheduler may call: the trials, stopping one, pausing one."""

    trials: list[Trial]
    stopped: list[str] = field(default_factory=list)

    def get_trials(self) -> list[Trial]:
        return self.trials

    paused_unsaved: list[str] = field(default_factory=list)

    def stop_trial(self, trial: Trial) -> None:
        trial.status = "TERMINATED"
        self.stopped.append(trial.trial_id)

    def pause_trial(self, trial: Trial, should_checkpoint: bool = True) -> None:
        trial.status = "PAUSED"
        if not should_checkpoint:
            self.paused_unsaved.append(trial.trial_id)


def scheduler(num_samples: int = 10, state_file: Path | None = None, margin: float = 0.0) -> RungScheduler:
    return RungScheduler(max_t=6, grace_period=RUNG, reduction_factor=4, num_samples=num_samples, keep=BASE,
                         signal=("acc", "max"), tiebreak=("loss", "min"),
                         state_file=str(state_file) if state_file else None, margin=margin)  # fmt: skip


def report(asha: Any, tune: Controller, trial: Trial, epoch: int, acc: float, loss: float = 1.0) -> str:
    action = asha.on_trial_result(tune, trial, {"epoch": epoch, "acc": acc, "loss": loss})
    trial.status = {PAUSE: "PAUSED", STOP: "TERMINATED"}.get(action, trial.status)
    return action


def restore_statuses(tune: Controller) -> None:
    """What ``Tuner.restore`` does to the trials: every unfinished one (paused included) is PENDING again."""
    for trial in tune.trials:
        if trial.status != "TERMINATED":
            trial.status = "PENDING"


def sweep(names: list[str], **kwargs: Any) -> tuple[RungScheduler, Controller, dict[str, Trial]]:
    trials = {name: Trial(name, dict(BASE) if name == "base" else {}) for name in names}
    asha, tune = scheduler(**kwargs), Controller(list(trials.values()))
    for t in trials.values():
        asha.on_trial_add(tune, t)
    return asha, tune, trials


def test_trials_wait_on_a_rung_until_it_holds_enough_results_then_only_the_top_goes_on() -> None:
    asha, tune, t = sweep(["fast", "base", "weak", "good"])
    assert report(asha, tune, t["fast"], RUNG, 0.10) == PAUSE  # alone on the rung: nothing to rank it against
    assert report(asha, tune, t["base"], RUNG, 0.90) == CONTINUE  # the base trial never waits
    assert report(asha, tune, t["weak"], RUNG, 0.50) == PAUSE  # 3 results: still too few to rank
    assert report(asha, tune, t["good"], RUNG, 0.95) == CONTINUE  # 4 results: the top quarter is 0.95
    assert tune.stopped == ["fast", "weak"]
    assert asha.choose_trial_to_run(tune) is None  # nothing paused is promoted


def test_with_a_stop_margin_a_trial_within_the_noise_of_the_cut_goes_on() -> None:
    """search.stop_margin 0.03: 0.93 against a cut of 0.95 is within run-to-run noise and goes on; 0.50 stops."""
    asha, tune, t = sweep(["near", "base", "weak", "good"], margin=0.03)
    assert report(asha, tune, t["near"], RUNG, 0.93) == PAUSE
    assert report(asha, tune, t["base"], RUNG, 0.90) == CONTINUE
    assert report(asha, tune, t["weak"], RUNG, 0.50) == PAUSE
    assert report(asha, tune, t["good"], RUNG, 0.95) == CONTINUE  # the top quarter: 0.95
    assert tune.stopped == ["weak"]
    assert asha.choose_trial_to_run(tune) is t["near"]  # promoted: it resumes before any new trial


def test_ties_on_the_metric_are_ranked_by_val_loss_not_by_arrival() -> None:
    """Trials at chance all score 0.1000 at epoch 1: the one with the lower loss goes on, wherever it arrived."""
    asha, tune, t = sweep(["a", "b", "c", "d"])
    for name, loss in [("a", 2.30), ("b", 2.31), ("c", 2.29), ("d", 2.40)]:
        report(asha, tune, t[name], RUNG, 0.10, loss)
    assert sorted(tune.stopped) == ["a", "b"] and t["d"].status == "TERMINATED"
    assert t["c"].status == "PAUSED" and asha.choose_trial_to_run(tune) is t["c"]  # the lowest loss


def test_a_trial_ranked_out_while_tune_still_pauses_it_is_stopped_once_paused() -> None:
    """Stopping a trial whose pause is still saving would leave it paused for good and the sweep unfinished."""
    asha, tune, t = sweep(["fast", "base", "b", "c"])
    assert report(asha, tune, t["fast"], RUNG, 0.10) == PAUSE
    t["fast"].status = "RUNNING"  # Tune is still saving its checkpoint
    asha.choose_trial_to_run(tune)
    assert not tune.paused_unsaved  # no pause without that save
    for name, acc in [("base", 0.90), ("b", 0.80), ("c", 0.95)]:
        report(asha, tune, t[name], RUNG, acc)
    assert tune.stopped == ["b"]  # b waited too and is paused: stopped at once; "fast" is not yet
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
    assert tune.stopped == ["b"] and asha.choose_trial_to_run(tune) is t["fast"]


def test_when_no_more_trials_can_come_waiting_trials_are_ranked_on_what_the_rung_holds() -> None:
    asha, tune, t = sweep(["fast", "base", "slow"], num_samples=3)
    assert report(asha, tune, t["fast"], RUNG, 0.20) == PAUSE
    report(asha, tune, t["base"], RUNG, 0.90)
    assert asha.choose_trial_to_run(tune) is None and tune.stopped == []  # "slow" can still reach the rung
    t["slow"].status = "TERMINATED"  # it ended before the rung
    assert asha.choose_trial_to_run(tune) is None and tune.stopped == ["fast"]


def test_rays_asha_keeps_the_first_arrival_however_bad() -> None:
    """What the quorum changes: Ray's ASHA lets a trial go on from an empty rung and never ranks it again."""
    asha = AsyncHyperBandScheduler(time_attr="epoch", metric="acc", mode="max", max_t=6, grace_period=RUNG,
                                   reduction_factor=4)  # fmt: skip
    tune, fast = Controller([]), Trial("fast")
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


def test_a_paused_trial_the_scheduler_knows_nothing_about_runs_again() -> None:
    asha, tune, t = sweep(["fast", "other"])
    assert report(asha, tune, t["fast"], RUNG, 0.5) == PAUSE
    t["other"].status = "PAUSED"  # paused by something else (not waiting on a rung)
    assert asha.choose_trial_to_run(tune) is t["other"]


def test_the_state_survives_a_restore_and_a_waiting_trial_is_ranked_without_training_again(tmp_path: Path) -> None:
    """Tune restores the scheduler it pickled at the start (empty); the state file holds the rungs."""
    state_file = tmp_path / "scheduler_state.json"
    asha, tune, t = sweep(["fast", "base", "b", "c", "d"], state_file=state_file)
    pickled_at_start = pickle.dumps(asha)
    assert report(asha, tune, t["fast"], RUNG, 0.99) == PAUSE
    report(asha, tune, t["base"], RUNG, 0.90)
    assert report(asha, tune, t["b"], RUNG, 0.20) == PAUSE
    saved = json.loads(state_file.read_text())
    assert saved["waiting"] == {"fast": [0, RUNG], "b": [0, RUNG]}

    restored = pickle.loads(pickled_at_start)  # the driver was killed; --resume
    tune.stopped.clear()
    restore_statuses(tune)
    assert restored.choose_trial_to_run(tune).trial_id not in ("fast", "b")  # they wait on the rung
    t["fast"].status = "RUNNING"  # Tune starts every pending trial it has resources for
    restored.choose_trial_to_run(tune)
    assert tune.paused_unsaved == ["fast"] and t["fast"].status == "PAUSED"  # at once, its checkpoint kept
    t["c"].status = "RUNNING"
    assert report(restored, tune, t["c"], RUNG, 0.50) == STOP  # the 4th result ranks the whole rung at once
    assert sorted(tune.stopped) == ["b"] and restored.choose_trial_to_run(tune) is t["fast"]
    assert read_stopped(str(state_file)) == {"c", "b"}


def test_a_trial_stopped_while_paused_stays_stopped_after_a_restore(tmp_path: Path) -> None:
    """Tune's saved state can still say PAUSED for a trial stopped while paused: it must not resume."""
    state_file = tmp_path / "scheduler_state.json"
    asha, tune, t = sweep(["fast", "base", "b", "c"], state_file=state_file)
    pickled_at_start = pickle.dumps(asha)
    report(asha, tune, t["fast"], RUNG, 0.10)
    for name, acc in [("base", 0.90), ("b", 0.95), ("c", 0.97)]:
        report(asha, tune, t[name], RUNG, acc)
    assert "fast" in tune.stopped and not tune.paused_unsaved
    t["fast"].status = "PAUSED"  # what Tune's experiment state can say of it
    restore_statuses(tune)
    restored = pickle.loads(pickled_at_start)
    assert restored.choose_trial_to_run(tune) is t["base"] and t["fast"].status == "TERMINATED"


def test_after_a_restore_waiting_trials_are_ranked_once_no_other_trial_can_reach_the_rung(tmp_path: Path) -> None:
    """Every trial has started, the rest ended: the waiting ones (PENDING after the restore) rank at once."""
    state_file = tmp_path / "scheduler_state.json"
    asha, tune, t = sweep(["base", "a", "b", "failed"], num_samples=4, state_file=state_file)
    t["failed"].status = "TERMINATED"  # it ended (an error) before the rung
    pickled_at_start = pickle.dumps(asha)
    report(asha, tune, t["base"], RUNG, 0.90)
    assert report(asha, tune, t["a"], RUNG, 0.95) == PAUSE
    assert report(asha, tune, t["b"], RUNG, 0.20) == PAUSE
    t["base"].status = "TERMINATED"
    restore_statuses(tune)
    restored = pickle.loads(pickled_at_start)
    assert restored.choose_trial_to_run(tune) is t["a"]  # ranked on the 3 results held: a goes on
    assert tune.stopped == ["b"]


def test_once_the_time_budget_is_spent_nothing_starts_and_waiting_trials_end() -> None:
    from ray.tune.search import Searcher

    from rayjob.sweep import budget
    from rayjob.sweep.rung_scheduler import SlotLimiter

    asha, tune, t = sweep(["fast", "base", "new"])
    assert report(asha, tune, t["fast"], RUNG, 0.5) == PAUSE
    t["new"].status = "PENDING"
    limiter = SlotLimiter(Searcher(metric="acc", mode="max"), max_concurrent=2, scheduler=asha)
    budget.start(0.0)
    try:
        assert asha.choose_trial_to_run(tune) is None
        assert sorted(tune.stopped) == ["fast", "new"] and t["base"].status == "RUNNING"  # it ends its epoch
        assert limiter.suggest("another") == Searcher.FINISHED
    finally:
        budget.start(None)
