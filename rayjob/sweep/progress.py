"""The sweep's own console: a header, one line per trial event, and a progress line.

Readable in a terminal and in ``ray job logs``: at most ~100 columns, no colors. Trial events are
started (with its values), paused on a rung and resumed, diverged, errored, and stopped by the
scheduler or completed (with the trial's best metric); per-epoch progress is the progress line, not a
line per epoch, so a sweep's log grows with its trials, not its epochs. On a terminal the progress line
is a tqdm bar redrawn in place (event lines print above it); in a log it is printed every
``PROGRESS_EVERY_S`` seconds.
``--verbose`` adds Ray Tune's own status tables and every trial's output; errors and warnings from
trials are shown either way.
"""

from __future__ import annotations

import math
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from rayjob.config import Config
from rayjob.console import WIDTH, say, short_values, wrapped
from rayjob.data.digits import DESCRIPTIONS
from rayjob.ranking import best as ranking_best
from rayjob.sweep import budget

if TYPE_CHECKING:
    from rayjob.ray_cluster import RayStarted

PROGRESS_EVERY_S = 30.0


def metric_text(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else str(value)


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def print_header(cfg: Config, concurrency: int, per_trial: dict[str, float], ray: RayStarted | None = None) -> None:
    """What is about to run, in a few lines; where Ray's dashboard is, or that a local Ray runs none."""
    data = cfg.data.root or DESCRIPTIONS[cfg.data.embedded]
    resources = ", ".join(f"{v:g} {k}" for k, v in per_trial.items())
    workers = "in-process" if cfg.scaling.num_workers == 0 else f"{cfg.scaling.num_workers} Ray Train worker(s)"
    lines = [
        wrapped(f"sweep {cfg.run.name}: ", f"{cfg.search.num_samples} trials x up to {cfg.trainer.max_epochs} "
                f"epochs, {cfg.search.algorithm} + {cfg.search.scheduler}, metric {cfg.search.metric} "
                f"({cfg.search.mode})"),
        wrapped("  data     ", str(data)),
        wrapped("  space    ", ", ".join(cfg.search.space)),
        wrapped("  trials   ", f"{workers} on {cfg.trainer.accelerator}; each needs {resources}; "
                f"{concurrency} at a time"),
        wrapped("  storage  ", f"{cfg.run.storage_path}/{cfg.run.name}"),
    ]  # fmt: skip
    if cfg.scaling.num_workers == 1:  # a worker group per trial buys nothing one process could not do
        lines.append(wrapped("  note     ", "each trial starts a Ray Train worker group (about 20 s a trial on 2 "
                             "cores); scaling.num_workers=0 trains in the trial's own process with the same "
                             "CPUs/GPUs, and Tune restarts it from its last checkpoint if it fails"))
    if ray is not None and ray.dashboard:
        lines.append(f"  ray      dashboard {ray.dashboard}")
    elif ray is not None and ray.local:
        lines.append("  ray      local, no dashboard (its CPU goes to the trials; run.ray_dashboard=on starts one)")
    if cfg.search.time_budget is not None:
        lines.append(f"  budget   {cfg.search.time_budget:g} s of wall time: then no new trial starts")
    say("\n".join(lines))


class SweepConsole(Callback):
    """Tune callback printing trial events and the sweep's progress (rebuilt in ``setup`` on resume)."""

    def __init__(self, cfg: Config, base: dict[str, Any] | None) -> None:
        self.metric, self.mode = cfg.search.metric, cfg.search.mode
        self.num_samples, self.max_epochs = cfg.search.num_samples, cfg.trainer.max_epochs
        self.base = base
        self._reset()

    def _reset(self) -> None:
        self.started = time.monotonic()
        self.last_progress = self.started
        self.bar: Any = None
        self.paused: set[str] = set()  # trials announced as waiting on their rung

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with the experiment; the bar stays here
        return {**self.__dict__, "bar": None}

    def setup(self, **info: Any) -> None:
        self._reset()
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.num_samples, unit="trial", ncols=WIDTH, file=sys.stdout, leave=False,
                            bar_format="{n_fmt}/{total_fmt} trials |{bar:12}| {desc}")  # fmt: skip

    def say(self, line: str) -> None:
        line = line[:WIDTH]
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            say(line)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.paused:  # ranked into its rung's top: goes on from its checkpoint
            self.paused.discard(trial.trial_id)
            epoch = int((trial.last_result or {}).get("epoch", 0))
            self.say(f"{trial.trial_id} resumed after epoch {epoch}: in the top of its rung")
            return
        base = " (base config)" if self.base is not None and trial.config == self.base else ""
        line = f"{trial.trial_id} started{base}: {short_values(trial.config)}"
        self.say(textwrap.shorten(line, WIDTH, placeholder=" ..."))  # whole values; all are in trials.csv

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        epoch = int(last.get("epoch", 0))
        best = f", {self.metric} {metric_text(last.get(self.metric))}"  # its last epoch's: what the pick ranks
        if last.get("diverged") == 1.0:
            self.say(f"{trial.trial_id} diverged at epoch {epoch} (loss NaN/inf); the sweep goes on")
        elif epoch < self.max_epochs and budget.over():
            self.say(f"{trial.trial_id} stopped at epoch {epoch}, the time budget spent{best}")
        elif epoch < self.max_epochs:
            self.say(f"{trial.trial_id} stopped by the scheduler at epoch {epoch}{best}")
        else:
            self.say(f"{trial.trial_id} completed {epoch} epochs{best}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        reason = str(getattr(trial, "error_message", None) or "see the error file").strip().splitlines()
        where = getattr(trial, "error_file", None) or trial.path
        self.say(f"{trial.trial_id} errored: {(reason[-1] if reason else '')[:60]}")
        say(f"  full traceback: {where}")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        for trial in trials:
            if trial.status == "PAUSED" and trial.trial_id not in self.paused:
                self.paused.add(trial.trial_id)
                epoch = int((trial.last_result or {}).get("epoch", 0))
                self.say(f"{trial.trial_id} paused at epoch {epoch}: too few results on its rung to rank it yet")
        now = time.monotonic()
        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_description_str(self.progress(now, trials), refresh=True)
        elif now - self.last_progress >= PROGRESS_EVERY_S:
            self.last_progress = now
            self.say(f"progress: {done}/{self.num_samples} trials, {self.progress(now, trials)}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def progress(self, now: float, trials: list) -> str:
        """``17 epochs/60 max, best 0.9851 (3f2a...), 1:23 elapsed, ETA ~1:40``, from Tune's trials."""
        elapsed = now - self.started
        epochs = {t.trial_id: int((t.last_result or {}).get("epoch", 0)) for t in trials}
        ended = [t for t in trials if epochs[t.trial_id] >= self.max_epochs]  # the pick's candidates
        best = ranking_best(ended, lambda t: (t.last_result or {}).get(self.metric), self.mode)
        shown = f"best {best.last_result[self.metric]:.4f} ({best.trial_id})" if best else "best -"
        finished = [t for t in trials if t.status in ("TERMINATED", "ERROR")]
        running = sum(epochs[t.trial_id] / self.max_epochs for t in trials if t not in finished)
        fraction = (len(finished) + running) / self.num_samples
        eta = f"ETA ~{clock(elapsed / fraction - elapsed)}" if fraction > 0.05 else "ETA -"
        total = self.num_samples * self.max_epochs
        return f"{sum(epochs.values())} epochs/{total} max, {shown}, {clock(elapsed)} elapsed, {eta}"
