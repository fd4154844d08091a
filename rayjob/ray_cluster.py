"""Where Ray starts: joining the cluster in ``RAY_ADDRESS`` or starting a local Ray, once per driver, and
stopping what was started. rayjob needs Ray Train V2 (Ray's default since 2.51); this is the one place
that says so.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import NamedTuple

from rayjob.config import Config
from rayjob.errors import RayjobError
from rayjob.worker_output import filter_ray_notices, unfilter_ray_notices

_CONNECTED_HERE: list[bool] = []  # set when init_ray connected this process, so shutdown_ray leaves others' Ray alone


class RayStarted(NamedTuple):
    """What ``init_ray`` did: started a local Ray (else joined one, or found it joined), and the address of
    the dashboard of the Ray it started or joined (None: none, or not known)."""

    local: bool
    dashboard: str | None


def init_ray(
    num_cpus: int | None = None, log_to_driver: bool = True, hide_ray_notices: bool = False, dashboard: bool = True
) -> RayStarted:
    """Join the cluster in ``RAY_ADDRESS`` (as under ``ray job submit``), else start a local Ray, with its
    dashboard or without (``dashboard_wanted``). A Ray this process already joined (a notebook, a test) is
    used as it is.

    Worker output is forwarded here with ``log_to_driver``; with ``hide_ray_notices`` less Ray's notices
    about its own machinery (``rayjob.worker_output``).
    """
    import ray

    check_train_v2()
    if ray.is_initialized():
        return RayStarted(local=False, dashboard=None)
    _CONNECTED_HERE.append(True)
    quiet = {"logging_level": logging.WARNING, "log_to_driver": log_to_driver}
    if on_remote_cluster():
        context = ray.init(**quiet)
    else:
        _without_token_notice()
        try:
            context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard, **quiet)
        except OSError as err:  # e.g. a socket path over 107 bytes under a deep temp folder
            _CONNECTED_HERE.clear()
            raise RayjobError(f"a local Ray could not start: {err}; set RAY_TMPDIR to a short folder such as "
                              "/tmp/ray") from None  # fmt: skip
    if log_to_driver and hide_ray_notices:
        filter_ray_notices()
    url = context.dashboard_url or None
    return RayStarted(not on_remote_cluster(), url if not url or "://" in url else f"http://{url}")


class _TokenNotice(logging.Filter):
    """A new local Ray turns token authentication on by itself and says so in a 230-column warning: that
    default is what rayjob wants, so the notice is dropped (Ray's other warnings stay)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


def _without_token_notice() -> None:
    for handler in logging.getLogger("ray").handlers:  # Ray's own logger; its children log through these
        if not any(isinstance(f, _TokenNotice) for f in handler.filters):
            handler.addFilter(_TokenNotice())


def check_train_v2() -> None:
    """rayjob is written for Ray Train V2 (TorchTrainer inside Tune function trials), Ray's default since 2.51;
    the V1 API that ``RAY_TRAIN_V2_ENABLED=0`` brings back is refused here, where Ray starts, in one line."""
    if os.environ.get("RAY_TRAIN_V2_ENABLED", "1").strip().lower() in ("0", "false", "no", "off"):
        raise RayjobError("RAY_TRAIN_V2_ENABLED=0 turns Ray Train V2 off, and rayjob needs it (Ray's default since "
                          "2.51): unset RAY_TRAIN_V2_ENABLED")  # fmt: skip


def dashboard_wanted(cfg: Config) -> bool:
    """Whether a local Ray that rayjob starts runs its dashboard (``run.ray_dashboard``).

    Ray Train needs it: its placement-group cleaner queries the dashboard's State API, and without it the
    groups of trials that ASHA stops leak until later trials cannot start (Ray 2.60 logs "Failed to query
    Ray Train Controller actor state"). In-process trials use no Ray Train, and there the dashboard only
    takes CPU the trials wait for (docs/performance.md has the measurement)."""
    if cfg.run.ray_dashboard == "auto":
        return cfg.scaling.num_workers >= 1
    return cfg.run.ray_dashboard == "on"


def shutdown_ray() -> None:
    """Disconnect from (or stop) the Ray that ``init_ray`` connected, flushing the log lines it still holds."""

    import ray

    if _CONNECTED_HERE and ray.is_initialized():
        ray.shutdown()
        _CONNECTED_HERE.clear()
    unfilter_ray_notices()
    sys.stdout.flush()


def shutdown_ray_in_background() -> threading.Thread:
    """``shutdown_ray`` in a thread, started: stopping a local Ray is ~1 s of waiting on its processes (the GIL
    released), which work that needs no Ray (the held-out evaluation) can overlap. Join it before printing
    what should follow Ray's last forwarded log lines."""
    stopping = threading.Thread(target=shutdown_ray, name="rayjob-stop-ray")
    stopping.start()
    return stopping


def on_remote_cluster() -> bool:
    """True when Ray runs elsewhere (an autoscaler may still add nodes), False for a Ray we started."""
    return bool(os.environ.get("RAY_ADDRESS"))


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0))
