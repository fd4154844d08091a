"""The searcher Tune is given: Optuna records each intermediate value at the trial's epoch."""

from __future__ import annotations

import warnings
from pathlib import Path

from rayjob.config import load_config
from rayjob.sweep.tuner import build_searcher

ROOT = Path(__file__).resolve().parent.parent


def test_a_resumed_trial_whose_iterations_restart_keeps_every_epoch_in_the_study() -> None:
    """A TorchTrainer trial resumed after a pause reports training_iteration 1 again, at epoch 2."""
    searcher = build_searcher(load_config(ROOT / "configs" / "quickstart.yaml"), study_file=None)
    assert searcher.suggest("t1") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns when it drops a value reported at a step it has
        for iteration, epoch, acc in [(1, 1, 0.93), (1, 2, 0.98), (2, 3, 0.99)]:
            searcher.on_trial_result("t1", {"training_iteration": iteration, "epoch": epoch, "val/acc_top1": acc})
    assert searcher._ot_study.trials[0].intermediate_values == {1: 0.93, 2: 0.98, 3: 0.99}
