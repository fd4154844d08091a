"""What each trial reserves, and how many trials fit at once."""

from __future__ import annotations

import math

from rayjob.config import Config
from rayjob.console import say
from rayjob.errors import ConfigError

DRIVER_MEMORY_BYTES = 256 * 2**20


def trial_resources(cfg: Config) -> dict[str, float]:
    """What Tune reserves for the trial process itself; ``cfg`` has its devices resolved."""
    if cfg.scaling.num_workers > 0:
        # A light driver: no CPU (its TorchTrainer reserves the workers' CPUs/GPUs, so 2 workers x 1 CPU fit
        # on 2 cores), but Tune needs a non-empty bundle: reserve the memory the driver process uses.
        return {"memory": DRIVER_MEMORY_BYTES, **cfg.search.driver_resources}
    resources = {"cpu": cfg.scaling.cpus_per_worker, **cfg.search.driver_resources}
    if cfg.trainer.accelerator == "gpu":
        resources["gpu"] = cfg.scaling.gpus_per_worker
    return resources


def trial_needs(cfg: Config) -> dict[str, float]:
    """Everything one trial holds while it runs: its workers' CPUs/GPUs and its driver's custom resources."""
    workers = max(1, cfg.scaling.num_workers)
    needs = {"CPU": workers * cfg.scaling.cpus_per_worker}
    if cfg.trainer.accelerator == "gpu":
        needs["GPU"] = workers * cfg.scaling.gpus_per_worker
    needs.update(cfg.search.driver_resources)  # e.g. the head node's rayjob_driver slots
    return needs


def trials_that_fit(needs: dict[str, float], have: dict[str, float]) -> int:
    """How many trials needing ``needs`` fit in ``have`` at once (0: not one)."""
    return min((math.floor(have.get(k, 0) / v + 1e-9) for k, v in needs.items() if v > 0), default=1)


def trial_concurrency(cfg: Config, cluster: dict[str, float], remote: bool) -> int:
    """How many trials fit at once: the cluster's resources over one trial's needs.

    A trial that can never fit is an error on a Ray this process started; on a remote cluster it is a
    warning, because an autoscaler may still add the nodes.
    """
    needs = trial_needs(cfg)
    fits = trials_that_fit(needs, cluster)
    if fits < 1:
        have = ", ".join(f"{cluster.get(k, 0):g} {k}" for k in needs)
        want = ", ".join(f"{v:g} {k}" for k, v in needs.items())
        message = (
            f"one trial needs {want} (scaling.num_workers x cpus_per_worker/gpus_per_worker) but this Ray "
            f"cluster has {have}: lower scaling.* or use a bigger cluster"
        )
        if not remote:
            raise ConfigError(message)
        say(f"warning: {message}; waiting for the autoscaler to add nodes")
        fits = 1
    limit = cfg.search.max_concurrent_trials or fits
    return max(1, min(limit, cfg.search.num_samples))
