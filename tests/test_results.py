"""The results contract: one ranking, typed trial records that survive a round trip, trial statuses."""

from collections.abc import Callable
from pathlib import Path

import pytest

from rayjob.ranking import best, ranked_items
from rayjob.results import SweepOutcome, TrialRecord, best_trial, read_records, write_records
from rayjob.sweep.collect import trial_status


def record(trial_id: str, final: float | None, checkpoint: str = "ck", **fields: object) -> TrialRecord:
    fields = {"params": {}, "status": "COMPLETED", "final_tiebreak": 1.0, "best": final, **fields}
    return TrialRecord(trial_id=trial_id, best_epoch=1, epochs=2, checkpoint=checkpoint, final=final, **fields)


def test_ranking_puts_missing_and_nan_last_and_keeps_order_of_equals() -> None:
    items = [{"m": 0.5}, {"m": float("nan")}, {}, {"m": 0.9}, {"m": 0.9}]
    assert ranked_items(items, lambda d: d.get("m"), "max") == [items[3], items[4], items[0]]
    assert best(items, lambda d: d.get("m"), "min") is items[0]
    assert best([{}], lambda d: d.get("m"), "max") is None


def pick(records: list[TrialRecord]) -> TrialRecord | None:
    return best_trial(records, "val/acc_top1", "max")


def test_best_trial_needs_a_checkpoint_and_ignores_record_order() -> None:
    a, b, c = record("a", 0.9), record("b", 0.9), record("c", 0.99, checkpoint="")
    assert pick([b, a, c]) is a and pick([a, b, c]) is a  # c has nothing to export
    assert pick([record("x", None)]) is None
    base = record("z", 0.9, is_base=True)  # a tie with the base config is not a better config
    assert pick([a, b, base]) is base and pick([a, record("y", 0.91), base]).trial_id == "y"


def test_best_trial_is_judged_at_its_last_epoch_and_ties_go_to_the_lower_val_loss() -> None:
    peaked = record("a", 0.80, best=0.95)  # a noisy peak at some epoch is not the model it ends with
    steady = record("b", 0.90, best=0.90)
    assert pick([peaked, steady]) is steady
    low_loss = record("c", 0.90, final_tiebreak=0.5)
    assert pick([steady, low_loss]) is low_loss


def test_a_trial_stopped_early_is_picked_only_when_none_ran_every_epoch() -> None:
    stopped = record("a", 0.95, status="STOPPED")  # its value is from an earlier epoch than the others'
    done = record("b", 0.90)
    assert pick([stopped, done]) is done and pick([stopped]) is stopped


def test_records_keep_their_types_through_the_table(tmp_path: Path) -> None:
    params = {"optim.lr": 1e-05, "model.backbone": "resnet18", "data.augment.randaugment": 7, "ema.decay": 0.99}
    original = record("t1", 0.75, params=params, curve=[0.5, None, 0.75], is_base=True, started=1.5)
    outcome = SweepOutcome(str(tmp_path), "val/acc_top1", "max", 3, [original, record("t0", float("nan"))])
    write_records(outcome)
    back = {r.trial_id: r for r in read_records(str(tmp_path))}
    assert back["t1"] == original and isinstance(back["t1"].params["optim.lr"], float)
    assert back["t0"].final is None  # NaN has no JSON spelling
    assert "1e-05" in (tmp_path / "trials.csv").read_text()
    assert read_records(str(tmp_path / "elsewhere")) is None


@pytest.mark.parametrize(
    ("errored", "epochs", "diverged", "tune_status", "status"),
    [
        (True, 1, False, "ERROR", "ERROR"),
        (False, 2, True, "TERMINATED", "DIVERGED"),
        (False, 4, False, "TERMINATED", "COMPLETED"),
        (False, 2, False, "TERMINATED", "STOPPED"),
        (False, 2, False, "PAUSED", "UNFINISHED"),
    ],
)
def test_trial_status(errored: bool, epochs: int, diverged: bool, tune_status: str, status: str) -> None:
    reports = [{"epoch": e, "diverged": 1.0 if diverged and e == epochs else 0.0} for e in range(1, epochs + 1)]
    assert trial_status(errored, reports, 4, tune_status) == status


def test_parameter_importance_is_fanova_and_quiet_when_every_trial_scored_the_same() -> None:
    import warnings

    from rayjob.config import Config
    from rayjob.outputs.report import parameter_importance

    space = {"optim.lr": {"choice": [1e-4, 1e-3, 1e-2]}, "ema.decay": {"choice": [0.9, 0.99]}}
    cfg = Config.from_dict({"search": {"space": space}})
    points = [(lr, decay) for lr in (1e-4, 1e-3, 1e-2) for decay in (0.9, 0.99)]

    def records(value: Callable[[float, float], float]) -> list[TrialRecord]:
        return [record(f"t{i}", value(lr, d), params={"optim.lr": lr, "ema.decay": d}, curve=[value(lr, d)] * 2)
                for i, (lr, d) in enumerate(points)]  # fmt: skip

    importances, epoch, trials, _ = parameter_importance(records(lambda lr, d: 0.5 + 10 * lr), cfg)
    assert (epoch, trials) == (2, 6) and importances["optim.lr"] > 0.9  # only lr moves the metric
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would land in the sweep's log as a long line
        importances, _, _, why = parameter_importance(records(lambda lr, d: 1.0), cfg)
    assert not importances and why  # nothing to attribute: said in the report, not computed


def test_the_pick_and_the_base_are_compared_paired_with_mcnemars_exact_test() -> None:
    """By hand: 100 images, 10 only the pick got right, 2 only the base. Per-image differences: mean 0.08,
    sample variance (12 - 8**2 / 100) / 99 = 0.114747, SE sqrt(0.114747 / 100) = 0.033874. McNemar exact:
    2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 0.038574."""
    from rayjob.outputs.heldout import Accuracy, Heldout

    pick_hits = [True] * 10 + [False] * 2 + [True] * 70 + [False] * 18
    base_hits = [False] * 10 + [True] * 2 + [True] * 70 + [False] * 18
    pick = Accuracy("p", sum(pick_hits) / 100, 100, tuple(pick_hits))
    base = Accuracy("b", sum(base_hits) / 100, 100, tuple(base_hits))
    heldout = Heldout("test", pick, base)
    pair = heldout.comparison
    assert (pair.b, pair.c, pair.n) == (10, 2, 100)
    assert pair.diff == pytest.approx(0.08) and pair.se == pytest.approx(0.033874, abs=1e-6)
    assert pair.p_value == pytest.approx(0.038574, abs=1e-6)
    assert heldout.verdict() == "+8.00 pp against the base (McNemar p 0.039)"
    assert heldout.figures() == "paired SE 3.39 pp, 95% CI +1.36 to +14.64 pp; only one right: pick 10, base 2"
    # 6 against 3: p = 2 * (1 + 9 + 36 + 84) / 512 = 0.5078, within noise, however large the accuracies' gap
    few_pick = Accuracy("p", 6 / 9, 9, (True,) * 6 + (False,) * 3)
    few = Heldout("test", few_pick, Accuracy("b", 3 / 9, 9, (False,) * 6 + (True,) * 3))
    assert few.comparison.p_value == pytest.approx(0.5078125)
    assert few.verdict().endswith("against the base: within noise (McNemar p 0.51)")
    record = heldout.to_dict()
    assert record["paired"]["only_pick_right"] == 10 and "hits" not in record["pick"]


def plotted_sweep() -> SweepOutcome:
    """4 trials of 6 epochs in start order: the base ran every epoch, two were stopped at epoch 3 (one above the
    base there), and the best ran every epoch."""
    records = [
        TrialRecord("base", "COMPLETED", {"optim.lr": 1e-3}, 0.8, 6, 6, [0.2, 0.4, 0.6, 0.7, 0.75, 0.8], "ck", 0.8,
                    1.0, is_base=True, started=100.0, ended=160.0),
        TrialRecord("s1", "STOPPED", {"optim.lr": 4e-3}, 0.1, 3, 3, [0.1, 0.1, 0.1], "ck", 0.1, 1.0,
                    started=101.0, ended=130.0),
        TrialRecord("s2", "STOPPED", {"optim.lr": 5e-4}, 0.65, 3, 3, [0.3, 0.5, 0.65], "ck", 0.65, 1.0,
                    started=131.0, ended=160.0),
        TrialRecord("win", "COMPLETED", {"optim.lr": 2e-3}, 0.9, 6, 6, [0.3, 0.6, 0.7, 0.8, 0.85, 0.9], "ck", 0.9,
                    1.0, started=161.0, ended=220.0),
    ]
    return SweepOutcome("/x", "val/acc_top1", "max", 6, records)


def test_best_so_far_shows_every_trial_and_steps_only_at_trials_that_ran_every_epoch() -> None:
    from rayjob.outputs.report import best_so_far_points

    points = best_so_far_points(plotted_sweep())
    assert [(p.number, p.trial_id, p.completed) for p in points] == [
        (1, "base", True), (2, "s1", False), (3, "s2", False), (4, "win", True)]
    assert [p.best_so_far for p in points] == [0.8, 0.8, 0.8, 0.9]  # s2's 0.65 at epoch 3 is no final value
    assert [p.ended_s for p in points] == [60.0, 30.0, 60.0, 120.0]


def test_learning_curves_mark_the_best_trial_and_the_base_and_keep_every_epoch() -> None:
    from rayjob.outputs.report import learning_curves

    curves = {c.trial_id: c for c in learning_curves(plotted_sweep())}
    assert curves["win"].role == "best" and curves["base"].role == "base" and curves["s1"].role == ""
    assert curves["s2"].epochs == [1, 2, 3] and curves["s2"].status == "STOPPED"
    assert curves["base"].values == [0.2, 0.4, 0.6, 0.7, 0.75, 0.8]


def test_metric_against_parameters_compares_every_trial_at_one_epoch() -> None:
    from rayjob.outputs.report import params_at_one_epoch

    epoch, params, values, full = params_at_one_epoch(plotted_sweep(), ["optim.lr"])
    assert epoch == 3  # the epoch every trial reached, not each trial's last
    assert params["optim.lr"] == [1e-3, 4e-3, 5e-4, 2e-3]
    assert values == [0.6, 0.1, 0.65, 0.7] and full == [True, False, False, True]


def test_the_samples_plot_shows_the_most_confident_mistakes_first_then_the_first_images() -> None:
    import torch

    from rayjob.training.epoch_data import shown_samples

    images = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1).expand(6, 3, 2, 2)  # image i is all i
    # the epoch's kept mistakes: val images 4, 0 and 5 (scores 0.6, 0.9, 0.7) and one right answer (score -1)
    mistakes = (images[[4, 0, 5, 1]], torch.tensor([1, 0, 2, 1]), torch.tensor([2, 1, 0, 1]),
                torch.tensor([0.6, 0.9, 0.7, 0.8]), torch.tensor([4, 0, 5, 1]), torch.tensor([0.6, 0.9, 0.7, -1.0]))
    first = (images[:4], torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 2, 0]), torch.tensor([0.9, 0.8, 0.5, 0.7]),
             torch.arange(4))  # fmt: skip
    shown, true, predicted, confidence = shown_samples(mistakes, first, 6)
    assert [int(img[0, 0, 0]) for img in shown] == [0, 5, 4, 1, 2, 3]  # 3 mistakes (half) by confidence, then
    assert true.tolist() == [0, 2, 1, 1, 2, 0] and predicted.tolist() == [1, 0, 2, 1, 2, 0]  # the first others
    assert confidence.tolist() == pytest.approx([0.9, 0.7, 0.6, 0.8, 0.5, 0.7])
    assert [int(img[0, 0, 0]) for img in shown_samples(mistakes, first, 4)[0]] == [0, 5, 1, 2]
