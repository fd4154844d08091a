"""``python -m rayjob.tune --plan``: what a sweep can cost at worst, before anything starts.

- Worst-case epochs: the config's scheduler run on a sweep in which every new trial beats all before it, so
  each trial the rungs can let through goes on (rayjob's ``RungScheduler`` itself decides, one trial at a
  time; FIFO: every trial runs every epoch).
- One epoch's time, measured on a few batches of the config's own data, model and batch size in a plain
  PyTorch loop with the threads a trial gets (Lightning, EMA and checkpoints add a little to it), or given
  (``--epoch-seconds``) when the sweep will run on other hardware than this machine's.
- Concurrency: ``search.max_concurrent_trials``, else what this machine's CPUs/GPUs fit.
So: worst-case wall time = epochs x epoch time / concurrency (plus Ray's start and the post-hook), and
with ``search.price_per_hour`` the worst-case cost = resource-hours x price. (Determined's
``det preview-search`` counts the epochs; this also measures them.)
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ray.tune.schedulers import TrialScheduler

from rayjob.config import Config
from rayjob.console import say
from rayjob.ranking import tiebreak_of
from rayjob.sweep.grace_period import grace_period
from rayjob.sweep.progress import wrapped
from rayjob.sweep.resources import trial_needs, trials_that_fit
from rayjob.sweep.rung_scheduler import RungScheduler
from rayjob.sweep.space import base_point
from rayjob.sweep.tuner import build_scheduler


@dataclass
class _Trial:
    trial_id: str
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "PENDING"


class _Sequential:
    """The part of Tune's controller a scheduler calls, for one trial at a time."""

    def __init__(self, trials: list[_Trial]) -> None:
        self.trials = trials

    def get_trials(self) -> list[_Trial]:
        return self.trials

    def stop_trial(self, trial: _Trial) -> None:
        trial.status = "TERMINATED"

    def pause_trial(self, trial: _Trial, should_checkpoint: bool = True) -> None:
        trial.status = "PAUSED"


def worst_case_epochs(cfg: Config) -> int:
    """Epochs the sweep trains at most: the scheduler's own decisions when every new trial is the best yet."""
    return scheduled_epochs(cfg, list(range(cfg.search.num_samples)))


def random_order_epochs(cfg: Config, orders: int = 200) -> float:
    """Mean epochs over ``orders`` sweeps whose trials come in a random order of quality."""
    rng = random.Random(cfg.search.seed)
    ranks = list(range(cfg.search.num_samples))
    return sum(scheduled_epochs(cfg, rng.sample(ranks, len(ranks))) for _ in range(orders)) / orders


def scheduled_epochs(cfg: Config, ranks: list[int]) -> int:
    """Epochs trained when trial ``i`` scores ``ranks[i]`` at every epoch (higher is better), one trial at a
    time, under the config's scheduler (``rayjob.sweep.rung_scheduler.RungScheduler`` itself decides)."""

    scheduler = build_scheduler(cfg)
    if not isinstance(scheduler, RungScheduler):  # FIFO: every trial runs every epoch
        return cfg.search.num_samples * cfg.trainer.max_epochs
    scheduler.state_file = None  # a plan writes nothing
    trials = [_Trial(f"t{i:04d}") for i in range(cfg.search.num_samples)]
    if cfg.search.include_base:
        trials[0].config = base_point(cfg)  # the base trial comes first; it is never stopped
    tiebreak = tiebreak_of(cfg.search.metric)[0]
    tune, epochs, done = _Sequential(trials), {t.trial_id: 0 for t in trials}, 0
    for trial in trials:
        scheduler.on_trial_add(tune, trial)
    while (trial := scheduler.choose_trial_to_run(tune)) is not None:
        trial.status = "RUNNING"
        while trial.status == "RUNNING":
            epochs[trial.trial_id] += 1
            done += 1
            rank = float(ranks[int(trial.trial_id[1:])])
            value = rank if cfg.search.mode == "max" else -rank
            result = {"epoch": epochs[trial.trial_id], cfg.search.metric: value, tiebreak: 0.0}
            action = scheduler.on_trial_result(tune, trial, result)
            if action == TrialScheduler.PAUSE:
                trial.status = "PAUSED"
            elif action == TrialScheduler.STOP:
                trial.status = "TERMINATED"
                scheduler.on_trial_complete(tune, trial, {})
    return done


@dataclass
class EpochTime:
    seconds: float
    how: str  # what was measured, or "given"


def measure_epoch(cfg: Config, batches: int = 4) -> EpochTime:
    """One epoch's seconds from ``batches`` timed training steps and a few validation batches (after one
    untimed step) of the plain loop, scaled to the epoch's batch counts."""
    import torch

    from rayjob.training.plain import PlainLoop, loop_device

    threads = max(1, int(cfg.scaling.cpus_per_worker))
    torch.set_num_threads(threads)
    loop = PlainLoop(cfg, loop_device(cfg))
    train, val = loop.train_loader, loop.val_loader

    def timed(loader: Any, n: int, fn: Any) -> tuple[float, int]:
        """Seconds per batch over up to ``n`` batches after the first, and how many were timed."""
        iterator = iter(loader)
        first = time.perf_counter()
        fn(*next(iterator))  # warm-up: first batch, worker start, allocator
        loop.synchronize()
        start, count = time.perf_counter(), 0
        warm_up = start - first
        for images, labels in iterator:
            fn(images, labels)
            count += 1
            if count == n:
                break
        loop.synchronize()
        if count == 0:  # a one-batch split: its only batch is the measure
            return warm_up, 1
        return (time.perf_counter() - start) / count, count

    loop.model.train()
    per_train, steps = timed(train, batches, loop.train_step)
    loop.model.eval()
    per_val, _ = timed(val, max(1, batches // 2), loop.val_step)
    seconds = per_train * len(train) + per_val * len(val)
    how = (f"measured: {steps} training steps of {len(train)} and validation batches of {len(val)}, "
           f"{cfg.model.backbone} at {cfg.data.image_size} px, batch {cfg.data.batch_size}, {loop.device}, "
           f"{threads} thread(s)")  # fmt: skip
    return EpochTime(seconds, how)


def plan_concurrency(cfg: Config) -> tuple[int, str]:
    """``search.max_concurrent_trials``, else how many trials this machine's CPUs and GPUs fit."""
    if cfg.search.max_concurrent_trials is not None:
        return cfg.search.max_concurrent_trials, "search.max_concurrent_trials"
    import torch

    have = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    needs = {k: v for k, v in trial_needs(cfg).items() if k in have and v > 0}  # custom resources: a cluster's
    fits = trials_that_fit(needs, have)
    mine = ", ".join(f"{have[k]:g} {k}" for k in needs)
    return max(1, fits), f"what this machine fits ({mine}; set search.max_concurrent_trials for a cluster)"


def print_plan(cfg: Config, epoch_seconds: float | None) -> None:
    """The plan, one figure a line."""

    epochs = worst_case_epochs(cfg)
    concurrency, why = plan_concurrency(cfg)
    epoch = EpochTime(epoch_seconds, "given (--epoch-seconds)") if epoch_seconds else measure_epoch(cfg)
    needs = trial_needs(cfg)
    wall_s = epochs * epoch.seconds / concurrency
    scheduler = cfg.search.scheduler
    if scheduler == "asha":
        scheduler += f" (first rung at epoch {grace_period(cfg)}, reduction factor {cfg.search.reduction_factor:g})"
    most = cfg.search.num_samples * cfg.trainer.max_epochs
    resource_hours = {k: v * epochs * epoch.seconds / 3600 for k, v in needs.items() if k in ("CPU", "GPU")}
    compute = ", ".join(f"{h:.2f} {k}-hours" for k, h in resource_hours.items())
    price = cfg.search.price_per_hour
    if price is not None:
        unit = "GPU" if resource_hours.get("GPU", 0) > 0 else "CPU"
        compute += f"; cost {resource_hours[unit] * price:.2f} at {price:g} per {unit}-hour"
    lines = [
        wrapped(f"plan for sweep {cfg.run.name}: ", f"{cfg.search.num_samples} trials x up to "
                f"{cfg.trainer.max_epochs} epochs, {scheduler}"),
        wrapped("  worst-case epochs  ", f"{epochs} of {most}, when every new trial beats all before it "
                f"(trials in a random order of quality: {random_order_epochs(cfg):.0f} on average)"),
        wrapped("  concurrency        ", f"{concurrency} trials at a time: {why}"),
        wrapped("  one epoch          ", f"{epoch.seconds:.1f} s, {epoch.how}"),
        wrapped("  worst-case time    ", f"{_clock(wall_s)} of training (plus Ray's start and the post-hook)"),
        wrapped("  worst-case compute ", compute),
    ]  # fmt: skip
    if cfg.search.time_budget is not None:
        lines.append(f"  time budget        {_clock(cfg.search.time_budget)}: the sweep stops starting trials then")
    say("\n".join(lines))


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
