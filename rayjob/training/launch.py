"""The one launcher: joining Ray, deciding CPU or GPU, and building every ``TorchTrainer``.

``rayjob.train`` (N workers) and each TorchTrainer sweep trial call ``build_trainer``; the accelerator
rule lives in ``resolve_devices`` and is fed the GPUs of where the workers will run: the Ray cluster's
resources for Ray runs (a CPU-only head node does not make a GPU cluster train on CPUs), this machine's
CUDA devices for in-process runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from rayjob.config import Config
from rayjob.errors import RayjobError
from rayjob.storage import is_uri
from rayjob.training.worker_logs import filter_forwarded_logs

# How often a Ray Train controller polls its workers (Ray's default: 2 s). A run's end, and so the release of
# its placement group, waits for the polls: 4.2-5.4 s from the last epoch to the trial's end at 2 s, 0.5-1.3 s
# at 0.25 s (3 one-worker trials each, docs/performance.md). Read by the controller, which Ray Train starts
# with the variable of the process that calls fit(); a value set by the user is kept.
RAY_TRAIN_POLL_S = "0.25"

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

    Worker output is forwarded here with ``log_to_driver``, less the tracebacks of Ray's own SIGTERMs
    and, with ``hide_ray_notices``, Ray's notices about its own machinery (``rayjob.training.worker_logs``).
    """
    import logging

    import ray

    check_train_v2()
    if ray.is_initialized():
        return RayStarted(local=False, dashboard=None)
    _CONNECTED_HERE.append(True)
    quiet = {"logging_level": logging.WARNING, "log_to_driver": log_to_driver}
    if on_remote_cluster():
        context = ray.init(**quiet)
    else:
        # A new local Ray turns token authentication on by itself and says so in a 230-column warning;
        # that default is what rayjob wants, so the notice is dropped.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        try:
            context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard, **quiet)
        except OSError as err:  # e.g. a socket path over 107 bytes under a deep temp folder
            _CONNECTED_HERE.clear()
            raise RayjobError(f"a local Ray could not start: {err}; set RAY_TMPDIR to a short folder such as "
                              "/tmp/ray") from None  # fmt: skip
    if log_to_driver:
        filter_forwarded_logs(hide_ray_notices)  # Ray's SIGTERM of a process it ends is not the trial's error
    url = context.dashboard_url or None
    return RayStarted(not on_remote_cluster(), url if not url or "://" in url else f"http://{url}")


def check_train_v2() -> None:
    """rayjob is written for Ray Train V2 (TorchTrainer inside Tune function trials), Ray's default since 2.51;
    the V1 API that ``RAY_TRAIN_V2_ENABLED=0`` brings back is refused here, where Ray starts, in one line."""
    if os.environ.get("RAY_TRAIN_V2_ENABLED", "1").strip().lower() in ("0", "false", "no", "off"):
        raise RayjobError("RAY_TRAIN_V2_ENABLED=0 turns Ray Train V2 off, and rayjob needs it (Ray's default since "
                          "2.51): unset RAY_TRAIN_V2_ENABLED")  # fmt: skip


def dashboard_wanted(cfg: Config) -> bool:
    """Whether a local Ray that rayjob starts runs its dashboard (``run.ray_dashboard``).

    Ray Train needs it: its placement-group cleaner queries the dashboard's State API, and without it the
    groups of trials that ASHA stops leak until later trials cannot start (../shared/RAY_NOTES.md, "Hangs";
    Ray 2.60 logs "Failed to query Ray Train Controller actor state"). In-process trials use no Ray Train,
    and there the full dashboard is only a cost: in a quickstart sweep on 2 cores its processes took 21.6 s of
    CPU, against 3.2 s for the minimal head Ray keeps without it (one run each, benchmarks/cpu_by_process.py):
    CPU seconds the trials wait for on a machine with as many cores as trial slots."""
    if cfg.run.ray_dashboard == "auto":
        return cfg.scaling.num_workers >= 1
    return cfg.run.ray_dashboard == "on"


def shutdown_ray() -> None:
    """Disconnect from (or stop) the Ray that ``init_ray`` connected, flushing the log lines it still holds."""
    import sys

    import ray

    if _CONNECTED_HERE and ray.is_initialized():
        ray.shutdown()
        _CONNECTED_HERE.clear()
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


def local_gpus() -> float:
    import torch

    return float(torch.cuda.device_count())


def resolve_devices(cfg: Config, gpus: float) -> Config:
    """``accelerator: auto`` -> gpu when ``gpus`` > 0; ``precision: auto`` -> 16-mixed on GPU, 32-true on CPU."""
    accelerator = cfg.trainer.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if gpus > 0 else "cpu"
    precision = cfg.trainer.precision
    if precision == "auto":
        precision = "16-mixed" if accelerator == "gpu" else "32-true"  # T4 tensor cores
    return cfg.with_values({"trainer.accelerator": accelerator, "trainer.precision": precision})


def worker_resources(cfg: Config) -> dict[str, float]:
    """What one training worker reserves; ``cfg`` must have its devices resolved."""
    resources = {"CPU": cfg.scaling.cpus_per_worker}
    if cfg.trainer.accelerator == "gpu":
        resources["GPU"] = cfg.scaling.gpus_per_worker
    return resources


def build_trainer(
    cfg: Config,
    train_fn: Callable[[dict[str, Any]], None],
    name: str,
    storage_path: str,
    callbacks: list[Any],
    verbose: bool = False,
) -> Any:
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
