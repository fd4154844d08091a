"""The one launcher: every ``TorchTrainer`` (``rayjob.train`` with N workers, each Ray Train sweep trial) is
built by ``build_trainer``, from a config whose devices ``rayjob.devices.resolve_devices`` has resolved.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rayjob.config import Config
from rayjob.devices import worker_resources
from rayjob.storage import is_uri

if TYPE_CHECKING:  # imported when a trainer is built: the CLIs start without Ray Train
    from ray.train.torch import TorchTrainer

# How often a Ray Train controller polls its workers (Ray's default: 2 s). A run's end, and so the release of
# its placement group, waits for the polls (docs/performance.md, "What a sweep trial costs"). Read by the
# controller, which Ray Train starts with the variable of the process that calls fit(); a user's value is kept.
RAY_TRAIN_POLL_S = "0.25"


def build_trainer(
    cfg: Config,
    train_fn: Callable[[dict[str, Any]], None],
    name: str,
    storage_path: str,
    callbacks: list[Any],
    verbose: bool = False,
) -> TorchTrainer:
    """A ``TorchTrainer`` of ``scaling.num_workers`` workers running ``train_fn(cfg)``, named ``name``.

    The run keeps ``run.checkpoints_to_keep`` checkpoints by the search metric, restarts its worker group
    ``run.max_failures`` times, and fails after ``scaling.worker_start_retries`` worker groups that
    could not start (instead of waiting forever for resources that never come). Ray Train's own info
    lines (worker group started, every report) are shown with ``verbose`` only. Its controller polls the
    workers every ``RAY_TRAIN_POLL_S``.
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    if cfg.trainer.accelerator == "auto":
        raise ValueError("build_trainer needs resolved devices: call resolve_devices first")
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", RAY_TRAIN_POLL_S)
    return TorchTrainer(
        train_fn,
        train_loop_config=cfg.to_dict(),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.scaling.num_workers,
            use_gpu=cfg.trainer.accelerator == "gpu",
            resources_per_worker=worker_resources(cfg),
        ),
        run_config=ray.train.RunConfig(
            name=name,
            # torch's C++ warnings (c10d's "hostname of the client socket cannot be retrieved" on a host whose
            # name does not resolve, once per worker) are not the user's; its errors still show.
            worker_runtime_env={"env_vars": {"TORCH_CPP_LOG_LEVEL": os.environ.get("TORCH_CPP_LOG_LEVEL", "ERROR")}},
            storage_path=storage_path if is_uri(storage_path) else os.path.abspath(storage_path),
            callbacks=callbacks,
            logging_config=ray.train.LoggingConfig(log_level="INFO" if verbose else "WARNING"),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=cfg.run.checkpoints_to_keep,
                checkpoint_score_attribute=cfg.search.metric,
                checkpoint_score_order=cfg.search.mode,
            ),
            failure_config=ray.train.FailureConfig(
                max_failures=cfg.run.max_failures, controller_failure_limit=cfg.scaling.worker_start_retries
            ),
        ),
    )
