"""Which earlier trials a warm start takes: those with a value whose searched values fit the new space."""

from rayjob.config import Config
from rayjob.results import TrialRecord
from rayjob.sweep.warm_start import fitting_trials


def record(trial_id: str, lr: float, status: str = "COMPLETED", **params: object) -> TrialRecord:
    curve = [0.5, 0.7] if status == "COMPLETED" else [0.4]
    return TrialRecord(trial_id, status, {"optim.lr": lr, **params}, best=max(curve), best_epoch=len(curve),
                       epochs=len(curve), curve=curve, final=curve[-1])  # fmt: skip


def test_only_trials_with_a_value_inside_the_new_space_are_taken_completed_or_pruned() -> None:
    cfg = Config.from_dict({"search": {"space": {"optim.lr": {"choice": [1e-3, 2e-3, 4e-3]}}}})
    earlier = [
        record("a", 1e-3),
        record("b", 2e-3, status="STOPPED"),
        record("c", 5e-4),  # not a choice of the new space
        record("d", 1e-3, **{"model.backbone": "resnet18"}),  # searched a key the new sweep does not
        record("e", 4e-3, status="DIVERGED"),
    ]
    warm = fitting_trials("old", earlier, cfg)
    assert [(t.params["optim.lr"], t.state.name) for t in warm.trials] == [(1e-3, "COMPLETE"), (2e-3, "PRUNED")]
    assert warm.trials[1].intermediate_values == {1: 0.4}
    assert (warm.outside, warm.failed) == (2, 1)
    assert warm.describe().startswith("2 earlier trials taken from old; 2 did not fit the space, 1 had no value")
