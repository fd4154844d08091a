"""``python -m rayjob.train``: one training run, for local debugging or a quick baseline.

With ``scaling.num_workers: 0`` (the quickstart) the training function runs in this process, so a
breakpoint in rayjob's code stops there. With N >= 1 it runs on N Ray Train workers (DDP) under a
``TorchTrainer``, on a local Ray or the cluster in ``RAY_ADDRESS``. Rerunning with the same
``run.name`` resumes from that run's newest checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rayjob.cli import add_config_arguments, config_from_args, quiet_libraries, run_main
from rayjob.config import Config
from rayjob.datasource import is_uri
from rayjob.errors import ConfigError
from rayjob.preflight import check_config_and_data
from rayjob.runs import check_same_config, resolve_paths, write_run_config
from rayjob.scoring import score
from rayjob.sessions import CHECKPOINT_FILE, LocalSession


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.train",
        description="Train one image classifier (in-process, or on Ray Train workers with scaling.num_workers>=1).",
        epilog="example: python -m rayjob.train --config configs/quickstart.yaml trainer.max_epochs=3",
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    quiet_libraries()
    cfg = resolve_paths(cfg)
    check_config_and_data(cfg)

    started = time.perf_counter()
    if cfg.scaling.num_workers == 0:
        checkpoint, metrics, last, run_dir = _run_in_process(cfg)
    else:
        checkpoint, metrics, last, run_dir = _run_on_ray_train(cfg)
    elapsed = time.perf_counter() - started

    print()
    print(f"run folder   {run_dir}")
    print(f"config       {run_dir}/config.yaml")
    if checkpoint is None:
        print("no checkpoint was reported")
        return 1
    print(f"best epoch   {int(metrics.get('epoch', 0))} of {cfg.trainer.max_epochs}  ({elapsed:.1f} s)")
    print(f"checkpoint   {checkpoint}")
    if not is_uri(checkpoint):
        from rayjob.observe import render_run_plots

        plots = render_run_plots(Path(checkpoint).parent, Path(run_dir))
        if plots:
            print(f"plots        {', '.join(str(p) for p in plots)}")
    print(f"{cfg.search.metric} {metrics[cfg.search.metric]:.4f}")
    if last.get("diverged") == 1.0:
        print("error: the run diverged (train/loss became NaN or infinite); lower optim.lr", file=sys.stderr)
        return 1
    return 0


def _run_in_process(cfg: Config) -> tuple[str | None, dict[str, Any], dict[str, Any], str]:
    """Returns (best checkpoint, its metrics, the last epoch's metrics, run folder)."""
    from rayjob.loop import train_loop

    if is_uri(cfg.run.storage_path):
        raise ConfigError(
            f"run.storage_path={cfg.run.storage_path} is a URI; in-process runs (scaling.num_workers=0) write to "
            "a local folder: use a local path, or scaling.num_workers>=1 to write through Ray"
        )
    run_dir = Path(cfg.run.storage_path) / cfg.run.name
    if any(run_dir.glob("checkpoint_*")):
        check_same_config(cfg, run_dir)
    session = LocalSession(run_dir, cfg.search.metric, cfg.search.mode, cfg.run.checkpoints_to_keep)
    write_run_config(cfg, run_dir)
    train_loop(cfg.to_dict(), session)
    best = session.best_checkpoint()
    last = (session.history() or [{}])[-1]
    if best is None:
        return None, {}, last, str(run_dir)
    return str(best[0] / CHECKPOINT_FILE), best[1], last, str(run_dir)


def _run_on_ray_train(cfg: Config) -> tuple[str | None, dict[str, Any], dict[str, Any], str]:
    import ray.train
    from ray.train.torch import TorchTrainer

    from rayjob.loop import resolve_accelerator, train_loop
    from rayjob.raysetup import init_ray

    storage = cfg.run.storage_path
    init_ray()
    use_gpu = resolve_accelerator(cfg) == "gpu"
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=cfg.to_dict(),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.scaling.num_workers,
            use_gpu=use_gpu,
            resources_per_worker=_worker_resources(cfg, use_gpu),
        ),
        run_config=ray.train.RunConfig(
            name=cfg.run.name,
            storage_path=storage,
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=cfg.run.checkpoints_to_keep,
                checkpoint_score_attribute=cfg.search.metric,
                checkpoint_score_order=cfg.search.mode,
            ),
            failure_config=ray.train.FailureConfig(max_failures=cfg.run.max_failures),
        ),
    )
    run_dir = f"{storage.rstrip('/')}/{cfg.run.name}"
    if not is_uri(storage):
        if any(Path(run_dir).glob("checkpoint_*")):
            check_same_config(cfg, Path(run_dir))
        write_run_config(cfg, Path(run_dir))
    result = trainer.fit()
    if not result.best_checkpoints:
        return None, {}, result.metrics or {}, run_dir
    checkpoint, metrics = max(
        result.best_checkpoints, key=lambda pair: score(pair[1], cfg.search.metric, cfg.search.mode)
    )
    return f"{checkpoint.path}/{CHECKPOINT_FILE}", metrics, result.metrics or {}, run_dir


def _worker_resources(cfg: Config, use_gpu: bool) -> dict[str, float]:
    resources = {"CPU": cfg.scaling.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = cfg.scaling.gpus_per_worker
    return resources


if __name__ == "__main__":
    run_main(main)
