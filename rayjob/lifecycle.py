"""One sweep's life, owned by one object: from a checked config to its outcome, records and outputs.

``Sweep.open`` does everything that can fail before Ray starts, once: the extension's config (``--extend``),
paths resolved, whether Tune restores an interrupted sweep, the warm start, the base trial. ``Sweep.run``
starts Ray, resolves the devices from the cluster, fits, collects the outcome, writes the records, and runs
the post-hook (held-out evaluation, plots, ONNX, report) when the sweep finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import ray
from ray import tune

from rayjob.config import Config
from rayjob.console import say
from rayjob.devices import resolve_devices
from rayjob.errors import ConfigError
from rayjob.layout import run_dir
from rayjob.outputs.finish import finish_sweep
from rayjob.outputs.heldout import held_out
from rayjob.outputs.summary import print_summary
from rayjob.ray_cluster import cluster_gpus, dashboard_wanted, init_ray, on_remote_cluster, shutdown_ray_in_background
from rayjob.results import SweepOutcome, read_records, write_records
from rayjob.runs import check_same_config, resolve_paths, write_run_config
from rayjob.sweep import budget
from rayjob.sweep.budget import Ended, describe, read_ended, record_ended
from rayjob.sweep.collect import collect_outcome
from rayjob.sweep.extend import Extension, mark_extended, plan_extension
from rayjob.sweep.progress import SweepConsole, print_header, wrapped
from rayjob.sweep.resources import trial_concurrency, trial_needs, trial_resources
from rayjob.sweep.space import base_trial
from rayjob.sweep.tracking import tracking_callbacks
from rayjob.sweep.tuner import fit, make_tuner, silence_tune_output, trial_base
from rayjob.sweep.warm_start import WarmStart, fitting_trials, load_warm_start
from rayjob.training.trial import run_trial


@dataclass
class Sweep:
    """A sweep (or the trials ``--extend`` adds to one) and what was decided about it before Ray starts."""

    cfg: Config  # what the trials run: paths resolved; the devices once Ray has started (``run``)
    experiment: str  # Tune's experiment: the sweep's folder, or an extension's own inside it
    restoring: bool  # Tune restores an interrupted sweep from ``experiment``
    verbose: bool  # Ray Tune's tables and every trial's output
    extension: Extension | None = None
    warm: WarmStart | None = None
    base: dict[str, Any] | None = None  # the base trial's values, if the sweep has one

    @classmethod
    def open(cls, cfg: Config, resume: bool = False, verbose: bool = False, extend: int | None = None) -> Sweep:
        """Check and decide everything that needs no Ray; a user's error raises ``ConfigError`` here."""
        budget.start(cfg.search.time_budget)  # the clock starts before Ray does: the budget is the user's wall time
        extension = None
        if extend is not None:
            if resume:
                raise ConfigError("--extend and --resume do not go together: --extend N continues an interrupted "
                                  "extension")  # fmt: skip
            cfg, extension = plan_extension(cfg, extend)
        cfg = resolve_paths(cfg)  # trials run in their own working directories
        experiment = run_dir(cfg.run.storage_path, cfg.run.name)
        restoring = _restorable(cfg, experiment, resume)
        warm = None if restoring else load_warm_start(cfg)  # a new sweep's study only
        if extension is not None and extension.study_file is None and not restoring:  # a URI: seed a new study
            warm = fitting_trials(extension.parent, extension.earlier, cfg)
        return cls(cfg, experiment, restoring, verbose, extension, warm, base_trial(cfg))

    @property
    def total_trials(self) -> int:
        """The trials the whole sweep will have: an extension's earlier ones included."""
        earlier = len(self.extension.earlier) if self.extension is not None else 0
        return earlier + self.cfg.search.num_samples

    def run(self) -> int:
        """Fit, collect, write the records (also of an interrupted sweep), then the post-hook; returns the exit
        code (130: interrupted, 1: no trial to export or the export failed). The last line is the best metric."""

        started = time.perf_counter()
        outcome = self.fit()
        tables = write_records(outcome)
        post_hook = time.perf_counter()  # the sweep's time ends here; the held-out evaluation is the post-hook's
        stopping = shutdown_ray_in_background()  # needs no Ray: the held-out evaluation runs while Ray stops
        heldout = held_out(outcome) if outcome.finished else None
        stopping.join()  # Ray's buffered log lines arrive before the summary, not after it
        print_summary(outcome, self.total_trials, post_hook - started, tables, heldout)
        if not outcome.finished:
            return 130
        if outcome.best is None:
            return 1
        code = finish_sweep(outcome, self.cfg, heldout, started=post_hook)
        if heldout is not None and heldout.split == "test":
            say(f"test/acc_top1 {heldout.pick.top1:.4f}")
        say(f"{outcome.metric} {outcome.best.final:.4f}")  # the last line, for scripts
        return code

    def fit(self) -> SweepOutcome:
        """Run (or resume) the sweep to its end or an interruption; the outcome of the whole sweep."""

        console, callbacks = self._callbacks()  # a missing tracking key fails before Ray starts
        if not self.verbose:
            silence_tune_output()
        if not self.restoring:
            write_run_config(self.cfg, self.experiment)
        trainable, concurrency = self._start_ray(console)
        tuner = make_tuner(self.cfg, trainable, callbacks, concurrency, self.verbose, self.restoring, self.warm,
                           self.extension)  # fmt: skip
        outcome = collect_outcome(fit(tuner, self.restoring), self.cfg, self.experiment, self.base)
        outcome.warm_start = self.warm.describe() if self.warm is not None and self.extension is None else ""
        if budget.over() and not outcome.finished and all(r.status != "UNFINISHED" for r in outcome.records):
            ended = Ended("time_budget", float(self.cfg.search.time_budget or 0), len(outcome.records))
            record_ended(self.experiment, ended)
            outcome.finished, outcome.ended = True, describe(ended)
        return self._whole_sweep(outcome)

    def _callbacks(self) -> tuple[Any, list[Any]]:
        console = SweepConsole(self.cfg, self.base)  # the console reports trials itself
        return console, [*tracking_callbacks(self.cfg, self.experiment), console]

    def _start_ray(self, console: Any) -> tuple[Any, int]:
        """Start or join Ray, resolve the devices from the cluster's GPUs, print the header; the trainable
        and how many trials run at once."""

        started = init_ray(log_to_driver=True, hide_ray_notices=not self.verbose, dashboard=dashboard_wanted(self.cfg))
        self.cfg = resolve_devices(self.cfg, cluster_gpus())  # one rule, fed the cluster's GPUs
        concurrency = trial_concurrency(self.cfg, ray.cluster_resources(), remote=on_remote_cluster())
        print_header(self.cfg, concurrency, trial_needs(self.cfg), started)
        if self.warm is not None:
            say(wrapped("  warm     ", self.warm.describe()))
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, base=trial_base(self.cfg), verbose=self.verbose),
            trial_resources(self.cfg),
        )
        return trainable, concurrency

    def _whole_sweep(self, outcome: SweepOutcome) -> SweepOutcome:
        """An extension's outcome joined to the sweep it extends; a restored sweep keeps its extensions' trials."""
        if self.extension is not None:
            outcome.records = self.extension.earlier + outcome.records
            outcome.experiment = self.extension.parent
            if outcome.finished:
                mark_extended(self.extension, self.cfg.search.num_samples)
        elif self.restoring:  # trials added by --extend live in their own experiments: keep their records
            known = {r.trial_id for r in outcome.records}
            outcome.records += [r for r in read_records(outcome.experiment) or [] if r.trial_id not in known]
        return outcome


def _restorable(cfg: Config, experiment: str, resume: bool) -> bool:
    """Whether ``experiment`` holds a sweep Tune can restore; the errors of one that must not be."""

    restoring = tune.Tuner.can_restore(experiment)
    if resume and not restoring:
        raise ConfigError(f"--resume: {experiment} holds no sweep to resume; run without --resume to start one")
    ended = read_ended(experiment) if restoring else None
    if ended is not None:
        raise ConfigError(
            f"{experiment}: {describe(ended)}; it is finished and cannot be resumed: add trials with "
            "--extend N, or start another sweep with a new run.name"
        )
    if restoring:
        check_same_config(cfg, experiment)
    return restoring
