"""One sweep trial: the base config with the searcher's values, trained in-process or by a TorchTrainer."""

from __future__ import annotations

import functools
import gc
import json
import os
import time
from typing import Any

import ray.tune
from ray.tune.integration.ray_train import TuneReportCallback

from rayjob.config import Config
from rayjob.console import show_run_progress
from rayjob.layout import TRIAL_TIMING_FILE, run_dir, train_run_name, trial_dir_name
from rayjob.library_logs import quiet_libraries
from rayjob.storage import join, read_text, write_text
from rayjob.training.entry import train_worker
from rayjob.training.launch import build_trainer
from rayjob.training.placement import this_node


def run_trial(sample: dict[str, Any], base: dict[str, Any], verbose: bool = False) -> None:
    """The Tune trainable. ``sample`` holds the searched values by dotted key; ``base`` is the full config
    with the accelerator already decided by the sweep driver (from the cluster's resources)."""
    started, trial_id = time.time(), ray.tune.get_context().get_trial_id()
    _record(trial_id, base, {"start": started, "pid": os.getpid()})
    try:
        cfg = Config.from_dict(base).with_values(sample)
        quiet_libraries(ray_info=verbose)
        show_run_progress(verbose)  # the sweep console reports the trial's progress
        if cfg.scaling.num_workers == 0:
            _in_process(cfg)
        else:
            _on_torch_trainer(cfg, verbose)
    finally:  # also when the scheduler stops or pauses it (Tune ends the function at a report)
        _record(trial_id, base, {"start": started, "end": time.time(), "pid": os.getpid()})


def _record(trial_id: str, base: dict[str, Any], line: dict[str, Any]) -> None:
    """Append when this run of the trial began (and then when it ended) to its ``timing.jsonl`` in the
    experiment: what the trial held its slot for, against the epochs it reported (benchmarks/trial_cost.py).
    Written to the storage itself: Tune has synced the trial's own folder for the last time when a stopped
    trial ends."""
    file = join(run_dir(base["run"]["storage_path"], base["run"]["name"]), trial_dir_name(trial_id), TRIAL_TIMING_FILE)
    write_text(file, (read_text(file) or "") + json.dumps(line) + "\n")


def _in_process(cfg: Config) -> None:
    import torch

    from rayjob.training.loop import train_loop
    from rayjob.training.sessions import TuneSession

    torch.set_num_threads(max(1, int(cfg.scaling.cpus_per_worker)))  # the CPUs Tune reserved, no more
    try:
        train_loop(cfg, TuneSession())
    finally:  # this process runs the slot's next trial (reuse_actors): it gets the GPU memory back
        _free_device_memory()


def _free_device_memory() -> None:
    import torch

    gc.collect()  # the trial's model, optimizer and loaders are garbage once train_loop has returned
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _on_torch_trainer(cfg: Config, verbose: bool) -> None:
    trial_id = ray.tune.get_context().get_trial_id()
    experiment = run_dir(cfg.run.storage_path, cfg.run.name)
    train_fn = functools.partial(train_worker, verbose=verbose)
    build_trainer(cfg, train_fn, train_run_name(trial_id), experiment, [ReportToTune()], verbose).fit()


class ReportToTune(TuneReportCallback):
    """Tune's bridge from Train reports to the trial, adding the node this trial driver runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.driver_node = this_node()

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        super().after_report(run_context, [{**metrics[0], "driver_node": self.driver_node}], checkpoint)
