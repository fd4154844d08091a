"""Ray's ``OptunaSearch``, with the epoch as the step of each intermediate value Optuna records.

Ray reports a trial's intermediate values to Optuna by ``training_iteration``. A trial that runs a
``TorchTrainer`` and resumes (promoted after a pause on a rung, or retried after a failure) counts its
iterations from 1 again, so Optuna dropped the resumed epochs' values with a ``step=1 is already
reported`` warning on the console. The epoch a trial reports is the same clock the scheduler uses.
"""

from __future__ import annotations

from typing import Any

from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch


class EpochStepOptunaSearch(OptunaSearch):
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if "epoch" in result:
            result = {**result, TRAINING_ITERATION: int(result["epoch"])}
        super().on_trial_result(trial_id, result)
