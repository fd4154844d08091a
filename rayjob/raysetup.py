"""Connecting to Ray: the cluster in RAY_ADDRESS (as under ``ray job submit``) or a local one."""

from __future__ import annotations

import os


def init_ray(num_cpus: int | None = None) -> None:
    """Join the running cluster if there is one, else start a local Ray with its dashboard.

    The dashboard (``ray[default]``) matters: without it, placement groups of trials that ASHA
    stops are not cleaned up and later trials wait for resources forever.
    """
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=True, log_to_driver=True)
