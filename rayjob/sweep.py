"""The sweep machinery behind ``python -m rayjob.tune``: trials, resources, Tuner, results table."""

from __future__ import annotations

import csv
import gc
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayjob.config import Config, get_dotted
from rayjob.datasource import is_uri
from rayjob.errors import ConfigError
from rayjob.runs import check_same_config, resolve_paths, write_run_config
from rayjob.scoring import score
from rayjob.sessions import CHECKPOINT_FILE
from rayjob.space import merge_sample, tune_param_space, tune_points

TRIALS_FILE = "trials.csv"
DRIVER_MEMORY_BYTES = 256 * 2**20


def run_trial(sample: dict[str, Any], base: dict[str, Any]) -> None:
    """One trial: the base config with Tune's sample merged in, trained in-process or by a TorchTrainer."""
    config = merge_sample(base, sample)
    cfg = Config.from_dict(config)
    if cfg.scaling.num_workers == 0:
        import torch

        from rayjob.loop import train_loop
        from rayjob.sessions import TuneSession

        torch.set_num_threads(max(1, int(cfg.scaling.cpus_per_worker)))  # the CPUs Tune reserved, no more
        train_loop(config, TuneSession())
        return

    import ray.train
    import ray.tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from rayjob.loop import train_loop

    trial_id = ray.tune.get_context().get_trial_id()
    use_gpu = cfg.trainer.accelerator == "gpu"  # resolved by the driver
    resources = {"CPU": cfg.scaling.cpus_per_worker, **({"GPU": cfg.scaling.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.scaling.num_workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=f"train-{trial_id}",  # stable: a restarted trial resumes this run's checkpoints
            storage_path=f"{cfg.run.storage_path.rstrip('/')}/{cfg.run.name}",
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=cfg.run.checkpoints_to_keep,
                checkpoint_score_attribute=cfg.search.metric,
                checkpoint_score_order=cfg.search.mode,
            ),
            failure_config=ray.train.FailureConfig(
                max_failures=cfg.run.max_failures,
                # Worker groups that cannot start (too few resources) fail the trial instead of waiting forever.
                controller_failure_limit=cfg.search.worker_start_retries,
            ),
        ),
    )
    trainer.fit()


@dataclass
class TrialRow:
    trial_id: str
    status: str  # COMPLETED, STOPPED (early, by ASHA), DIVERGED (loss NaN/inf), ERROR
    params: dict[str, Any]
    best: float
    best_epoch: int
    epochs: int
    checkpoint: str
    error: str = ""


@dataclass
class SweepOutcome:
    experiment_dir: str
    rows: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    finished: bool = True  # False: interrupted (Ctrl-C) before every trial ended

    def print_summary(self, cfg: Config, elapsed: float) -> None:
        counts = {s: sum(r.status == s for r in self.rows) for s in ("COMPLETED", "STOPPED", "DIVERGED", "ERROR")}
        print()
        if not self.finished:
            print(f"sweep interrupted: {len(self.rows)} of {cfg.search.num_samples} trials started.")
            print("Resume it with the same command and --resume (or rerun with the same run.name).")
        print(f"sweep folder   {self.experiment_dir}")
        print(
            f"trials         {len(self.rows)}: {counts['COMPLETED']} completed, {counts['STOPPED']} stopped early "
            f"by ASHA, {counts['DIVERGED']} diverged, {counts['ERROR']} errored; "
            f"{sum(r.epochs for r in self.rows)} epochs trained in {elapsed:.0f} s"
        )
        print(f"trials table   {self.experiment_dir}/{TRIALS_FILE}")
        if self.best is None:
            print(f"no trial reported {cfg.search.metric}")
            return
        params = "  ".join(f"{k}={_short(v)}" for k, v in self.best.params.items())
        print(f"best trial     {self.best.trial_id} (epoch {self.best.best_epoch}): {params}")
        print(f"checkpoint     {self.best.checkpoint}")
        print(f"{cfg.search.metric} {self.best.best:.4f}")


def run_sweep(cfg: Config, resume: bool) -> SweepOutcome:
    from ray import tune

    from rayjob.raysetup import init_ray

    cfg = resolve_paths(cfg)  # trials run in their own working directories
    experiment_dir = f"{cfg.run.storage_path.rstrip('/')}/{cfg.run.name}"
    local = not is_uri(experiment_dir)
    restoring = tune.Tuner.can_restore(experiment_dir)
    if resume and not restoring:
        raise ConfigError(f"--resume: {experiment_dir} holds no sweep to resume; run without --resume to start one")
    if restoring and local:
        check_same_config(cfg, Path(experiment_dir))
    callbacks = tracking_callbacks(cfg, Path(experiment_dir))  # a missing API key fails before Ray starts

    init_ray()
    import ray

    cluster = ray.cluster_resources()
    concurrency = trial_concurrency(cfg, cluster, remote=bool(os.environ.get("RAY_ADDRESS")))
    base = cfg.to_dict()
    base["trainer"]["accelerator"] = "gpu" if _wants_gpu(cfg, cluster) else "cpu"  # decided once, here
    base["trainer"]["early_stopping_patience"] = None  # in a sweep, ASHA decides when a trial stops
    base["search"]["space"], base["search"]["points_to_evaluate"] = {}, []  # trials need not carry them
    trainable = tune.with_resources(tune.with_parameters(run_trial, base=base), trial_resources(cfg, cluster))
    if restoring:
        print(f"resuming the sweep in {experiment_dir}", flush=True)
        tuner = tune.Tuner.restore(experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
    else:
        if local:
            write_run_config(cfg, Path(experiment_dir))
        tuner = tune.Tuner(
            trainable,
            param_space=tune_param_space(cfg),
            tune_config=_tune_config(cfg, concurrency),
            run_config=tune.RunConfig(
                name=cfg.run.name,
                storage_path=cfg.run.storage_path,
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=cfg.run.checkpoints_to_keep,
                    checkpoint_score_attribute=cfg.search.metric,
                    checkpoint_score_order=cfg.search.mode,
                ),
                failure_config=tune.FailureConfig(max_failures=cfg.search.trial_max_failures),
                callbacks=callbacks,
                verbose=1,
            ),
        )
    grid = tuner.fit()
    del tuner  # its callbacks' finalizers need a live Ray (WandbLoggerCallback fails at interpreter exit)
    gc.collect()
    outcome = collect_outcome(grid, cfg, experiment_dir)
    outcome.finished = grid.num_terminated + grid.num_errors >= cfg.search.num_samples
    if local:
        write_trials_csv(outcome, Path(experiment_dir) / TRIALS_FILE)
    return outcome


def tracking_callbacks(cfg: Config, experiment_dir: Path) -> list[Any]:
    """Tune's Wandb logger when ``run.wandb`` asks for it; the API key comes from the environment only."""
    if cfg.run.wandb == "off":
        return []
    if cfg.run.wandb == "online" and not os.environ.get("WANDB_API_KEY"):
        raise ConfigError(
            "run.wandb=online needs WANDB_API_KEY in the environment (export it; never put it in a config), "
            "or use run.wandb=offline and `wandb sync` later"
        )
    return [
        _wandb_callback()(
            project=cfg.run.wandb_project,
            group=cfg.run.name,
            mode=cfg.run.wandb,
            dir=str(experiment_dir),  # offline runs land in <experiment>/wandb for `wandb sync`
            log_config=False,
        )
    ]


def _wandb_callback() -> type:
    """Tune's WandbLoggerCallback, minus its demand for an API key in offline mode (nothing is uploaded)."""
    import ray.air.integrations.wandb as integration

    class WandbCallback(integration.WandbLoggerCallback):
        def setup(self, *args: Any, **kwargs: Any) -> None:
            if self.kwargs.get("mode") != "offline":
                super().setup(*args, **kwargs)
                return
            require_key = integration._set_api_key
            integration._set_api_key = lambda *_: None
            try:
                super().setup(*args, **kwargs)
            finally:
                integration._set_api_key = require_key

    return WandbCallback


def _tune_config(cfg: Config, concurrency: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    search = cfg.search
    if search.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=cfg.trainer.max_epochs,
            grace_period=min(search.grace_period, cfg.trainer.max_epochs),
            reduction_factor=search.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.TuneConfig(
        metric=search.metric,
        mode=search.mode,
        search_alg=OptunaSearch(points_to_evaluate=tune_points(cfg) or None, seed=search.seed),
        scheduler=scheduler,
        num_samples=search.num_samples,
        max_concurrent_trials=concurrency,
        reuse_actors=cfg.scaling.num_workers == 0,  # in-process trials: no new process per trial
        trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}",
    )


def _wants_gpu(cfg: Config, cluster: dict[str, float]) -> bool:
    """``accelerator: auto`` means GPUs when the cluster has any."""
    if cfg.trainer.accelerator == "auto":
        return cluster.get("GPU", 0) > 0
    return cfg.trainer.accelerator == "gpu"


def trial_resources(cfg: Config, cluster: dict[str, float]) -> dict[str, float]:
    """What Tune reserves for the trial process itself."""
    if cfg.scaling.num_workers > 0:
        # A light driver: no CPU (its TorchTrainer reserves the workers' CPUs/GPUs, so 2 workers x 1 CPU fit
        # on 2 cores), but Tune needs a non-empty bundle: reserve the memory the driver process uses.
        return {"memory": DRIVER_MEMORY_BYTES, **cfg.search.driver_resources}
    resources = {"cpu": cfg.scaling.cpus_per_worker, **cfg.search.driver_resources}
    if _wants_gpu(cfg, cluster):
        resources["gpu"] = cfg.scaling.gpus_per_worker
    return resources


def trial_concurrency(cfg: Config, cluster: dict[str, float], remote: bool) -> int:
    """How many trials fit at once: the cluster's CPUs/GPUs over one trial's needs (all workers)."""
    workers = max(1, cfg.scaling.num_workers)
    needs = {"CPU": workers * cfg.scaling.cpus_per_worker}
    if _wants_gpu(cfg, cluster):
        needs["GPU"] = workers * cfg.scaling.gpus_per_worker
    needs.update(cfg.search.driver_resources)  # e.g. the head node's rayjob_driver slots
    fits = min(math.floor(cluster.get(k, 0) / v + 1e-9) for k, v in needs.items() if v > 0)
    if fits < 1:
        have = ", ".join(f"{cluster.get(k, 0):g} {k}" for k in needs)
        want = ", ".join(f"{v:g} {k}" for k, v in needs.items())
        message = (
            f"one trial needs {want} (scaling.num_workers x cpus_per_worker/gpus_per_worker) but this Ray "
            f"cluster has {have}: lower scaling.* or use a bigger cluster"
        )
        if not remote:
            raise ConfigError(message)
        print(f"warning: {message}; waiting for the autoscaler to add nodes", flush=True)
        fits = 1
    limit = cfg.search.max_concurrent_trials or fits
    return max(1, min(limit, cfg.search.num_samples))


def collect_outcome(grid: Any, cfg: Config, experiment_dir: str) -> SweepOutcome:
    """One row per trial from Tune's results, and the best trial by the sweep metric."""
    metric, mode = cfg.search.metric, cfg.search.mode
    base = cfg.to_dict()
    rows = []
    for result in grid:
        history = result.metrics_dataframe
        records = [] if history is None else history.to_dict("records")
        best_record = max(records, key=lambda r: score(r, metric, mode), default={})
        epochs = int(max((r.get("epoch", 0) for r in records), default=0))
        config = merge_sample(base, result.config)
        status = "COMPLETED" if epochs >= cfg.trainer.max_epochs else "STOPPED"
        if any(r.get("diverged") == 1.0 for r in records):
            status = "DIVERGED"
        if result.error is not None:
            status = "ERROR"
        rows.append(
            TrialRow(
                trial_id=str((result.metrics or {}).get("trial_id") or Path(result.path).name.removeprefix("trial-")),
                status=status,
                params={k: get_dotted(config, k) for k in cfg.search.space},
                best=float(best_record.get(metric, math.nan)),
                best_epoch=int(best_record.get("epoch", 0)),
                epochs=epochs,
                checkpoint=_best_checkpoint(result, best_record, metric, mode),
                error="" if result.error is None else str(result.error).splitlines()[0][:200],
            )
        )
    ranked = [r for r in rows if not math.isnan(r.best)]
    best = max(ranked, key=lambda r: score({"m": r.best}, "m", mode), default=None)
    return SweepOutcome(experiment_dir, rows, best)


def _best_checkpoint(result: Any, best_record: dict[str, Any], metric: str, mode: str) -> str:
    """In-process trials keep checkpoints in Tune; TorchTrainer trials report their Train checkpoint path."""
    if result.best_checkpoints:
        checkpoint, _ = max(result.best_checkpoints, key=lambda pair: score(pair[1], metric, mode))
        return f"{checkpoint.path}/{CHECKPOINT_FILE}"
    path = best_record.get("checkpoint_path")
    return f"{path}/{CHECKPOINT_FILE}" if isinstance(path, str) and path else ""


def write_trials_csv(outcome: SweepOutcome, file: Path) -> None:
    keys = sorted({k for row in outcome.rows for k in row.params})
    with open(file, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["trial_id", "status", *keys, "best", "best_epoch", "epochs", "checkpoint", "error"])
        for row in sorted(outcome.rows, key=lambda r: r.trial_id):
            params = [row.params.get(k, "") for k in keys]
            writer.writerow(
                [row.trial_id, row.status, *params, row.best, row.best_epoch, row.epochs, row.checkpoint, row.error]
            )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
