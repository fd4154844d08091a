"""``python -m rayjob.train``: one training run, for local debugging or a quick baseline.

With ``scaling.num_workers: 0`` (the quickstart) the training function runs in this process, so a
breakpoint in rayjob's code stops there. With N >= 1 it runs on N Ray Train workers (DDP) under a
``TorchTrainer``, on a local Ray or the cluster in ``RAY_ADDRESS``; this process then imports neither
torch nor Lightning. Rerunning with the same ``run.name`` resumes from that run's newest checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayjob.cli import add_config_arguments, config_from_args, run_main
from rayjob.config import Config
from rayjob.console import say, warn
from rayjob.devices import local_gpus, resolve_devices
from rayjob.errors import ConfigError
from rayjob.layout import CHECKPOINT_FILE, run_dir
from rayjob.library_logs import quiet_libraries
from rayjob.outputs.run_plots import fetch_plot_data, render_run_plots
from rayjob.preflight import check_config_and_data, short_run_warning
from rayjob.ranking import best
from rayjob.ray_cluster import cluster_gpus, dashboard_wanted, init_ray
from rayjob.runs import check_same_config, resolve_paths, write_run_config
from rayjob.storage import is_uri, join, scratch_dir, upload, with_scheme
from rayjob.training.entry import train_worker
from rayjob.training.launch import build_trainer


@dataclass
class RunResult:
    run_dir: str
    checkpoint: str | None = None  # the best epoch's checkpoint.ckpt (path or URI)
    metrics: dict[str, Any] = field(default_factory=dict)  # of that epoch
    last: dict[str, Any] = field(default_factory=dict)  # of the last epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.train",
        description="Train one image classifier: in this process, or on N Ray Train workers (DDP) with\n"
        "scaling.num_workers=N. Rerunning with the same run.name resumes from its newest checkpoint.",
        epilog="examples:\n  python -m rayjob.train --config configs/quickstart.yaml trainer.max_epochs=3\n"
        "  python -m rayjob.train --config configs/gpu_debug.yaml\n"
        "  python -m rayjob.train scaling.num_workers=2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    quiet_libraries()
    cfg = resolve_paths(cfg)
    warning = short_run_warning(cfg, check_config_and_data(cfg))
    if warning:
        warn(warning)
    started = time.perf_counter()
    result = run_in_process(cfg) if cfg.scaling.num_workers == 0 else run_on_ray_train(cfg)
    return print_result(cfg, result, time.perf_counter() - started)


def run_in_process(cfg: Config) -> RunResult:
    """The training function in this process, persisting through a ``LocalSession``."""
    from rayjob.training.loop import train_loop
    from rayjob.training.sessions import LocalSession

    if is_uri(cfg.run.storage_path):
        raise ConfigError(
            f"run.storage_path={cfg.run.storage_path} is a URI; in-process runs (scaling.num_workers=0) write to "
            "a local folder: use a local path, or scaling.num_workers>=1 to write through Ray"
        )
    folder = run_dir(cfg.run.storage_path, cfg.run.name)
    check_same_config(cfg, folder)
    write_run_config(cfg, folder)
    session = LocalSession(Path(folder), cfg.search.metric, cfg.search.mode, cfg.run.checkpoints_to_keep)
    train_loop(resolve_devices(cfg, local_gpus()), session)
    best = session.best_checkpoint()
    last = (session.history() or [{}])[-1]
    return RunResult(folder, str(best[0]) if best else None, best[1] if best else {}, last)


def run_on_ray_train(cfg: Config) -> RunResult:
    """A ``TorchTrainer`` of N workers; CPU or GPU is decided from the cluster's resources, not this machine's."""

    folder = run_dir(cfg.run.storage_path, cfg.run.name)
    check_same_config(cfg, folder)
    write_run_config(cfg, folder)
    init_ray(dashboard=dashboard_wanted(cfg))
    devices = resolve_devices(cfg, cluster_gpus())
    result = build_trainer(devices, train_worker, cfg.run.name, cfg.run.storage_path, []).fit()
    top = best(result.best_checkpoints, lambda pair: pair[1].get(cfg.search.metric), cfg.search.mode)
    if top is None:
        return RunResult(folder, last=result.metrics or {})
    checkpoint = join(with_scheme(top[0].path, folder), CHECKPOINT_FILE)
    return RunResult(folder, checkpoint, top[1], result.metrics or {})


def print_result(cfg: Config, result: RunResult, elapsed: float) -> int:
    """The run's summary; its last line is ``<metric> <best value>`` for scripts."""
    say("")
    say(f"run folder   {result.run_dir}")
    say(f"config       {result.run_dir}/config.yaml")
    if result.checkpoint is None:
        say("no checkpoint was reported")
        return 1
    say(f"best epoch   {int(result.metrics.get('epoch', 0))} of {cfg.trainer.max_epochs}  ({elapsed:.1f} s)")
    say(f"world size   {int(result.metrics.get('world_size', 1))} worker(s)")
    say(f"checkpoint   {result.checkpoint}")
    plots = render_best_plots(result.checkpoint, result.run_dir)
    if plots:
        say(f"plots        {', '.join(plots)}")
    say(f"{cfg.search.metric} {result.metrics[cfg.search.metric]:.4f}")
    if result.last.get("diverged") == 1.0:
        print("error: the run diverged (train/loss became NaN or infinite); lower optim.lr", file=sys.stderr)
        return 1
    return 0


def render_best_plots(checkpoint: str, folder: str) -> list[str]:
    """Plots of the best epoch into the run folder (rendered locally, uploaded when it is a URI)."""

    with scratch_dir("rayjob-plots-") as tmp:
        data = fetch_plot_data(checkpoint, Path(tmp) / "data")
        if data is None:
            return []
        out = Path(tmp) / "out" if is_uri(folder) else Path(folder)
        written = render_run_plots(data, out)
        if is_uri(folder):
            upload(out, folder)
    return [join(folder, p.name) for p in written if p.suffix == ".png"]


if __name__ == "__main__":
    run_main(main)
