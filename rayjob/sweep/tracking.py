"""Experiment tracking for sweeps: Tune's wandb logger, keys from the environment only."""

from __future__ import annotations

import os
from typing import Any

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.storage import is_uri


def tracking_callbacks(cfg: Config, experiment_dir: str) -> list[Any]:
    """Tune's ``WandbLoggerCallback`` when ``run.wandb`` asks for it.

    Offline runs set wandb's own ``WANDB_MODE=offline`` (its documented switch, which Tune's callback
    honours) and land in ``<experiment>/wandb`` for ``wandb sync`` (``./wandb`` when the experiment is on
    a URI: wandb writes local files); online runs need ``WANDB_API_KEY``.
    """
    if cfg.run.wandb == "off":
        return []
    if cfg.run.wandb == "online" and not os.environ.get("WANDB_API_KEY"):
        raise ConfigError(
            "run.wandb=online needs WANDB_API_KEY in the environment (export it; never put it in a config), "
            "or use run.wandb=offline and `wandb sync` later"
        )
    from ray.air.integrations.wandb import WandbLoggerCallback

    os.environ["WANDB_MODE"] = cfg.run.wandb
    return [
        WandbLoggerCallback(
            project=cfg.run.wandb_project,
            group=cfg.run.name,
            mode=cfg.run.wandb,
            dir=os.path.abspath("wandb") if is_uri(experiment_dir) else experiment_dir,
            log_config=False,
            resume="allow",  # the run id is the trial id: a --resume continues each trial's run, no duplicate
        )
    ]
