"""When the scheduler may first judge a trial: never while its learning rate is still warming up."""

from __future__ import annotations

import math

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.sweep.space import parse_spec


def grace_period(cfg: Config) -> int:
    """ASHA's first rung: ``search.grace_period``, or (auto) the first whole epoch after the LR warmup."""
    first_useful = math.ceil(_longest_warmup(cfg)) + 1
    grace = cfg.search.grace_period
    if grace == "auto":
        return min(first_useful, cfg.trainer.max_epochs)
    if grace < first_useful:
        raise ConfigError(
            f"search.grace_period={grace} falls inside the LR warmup (optim.warmup_epochs up to "
            f"{_longest_warmup(cfg):g}): ASHA would judge trials before they learn; use at least {first_useful} "
            "or auto"
        )
    return min(grace, cfg.trainer.max_epochs)


def _longest_warmup(cfg: Config) -> float:
    spec = cfg.search.space.get("optim.warmup_epochs")
    if spec is None:
        return cfg.optim.warmup_epochs
    _, args = parse_spec("search.space.optim.warmup_epochs", spec)
    return float(max(args))
