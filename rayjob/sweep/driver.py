"""The sweep driver: from a checked config to a ``SweepOutcome`` with its records written."""

from __future__ import annotations

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.layout import run_dir
from rayjob.results import SweepOutcome, read_records
from rayjob.runs import check_same_config, resolve_paths, write_run_config
from rayjob.sweep import budget
from rayjob.sweep.budget import Ended, describe, read_ended, record_ended
from rayjob.sweep.collect import collect_outcome
from rayjob.sweep.extend import Extension, mark_extended
from rayjob.sweep.space import base_point
from rayjob.sweep.warm_start import fitting_trials, load_warm_start


def run_sweep(cfg: Config, resume: bool, verbose: bool = False, extension: Extension | None = None) -> SweepOutcome:
    """Run (or resume) the sweep of ``cfg`` to its end or an interruption; returns its outcome.

    With ``extension`` (``--extend``), ``cfg`` is the extension's and the outcome is the whole sweep's: the
    earlier trials and the new ones. The caller writes the trials table
    (``rayjob.results.write_records``), also for an interrupted sweep.
    """
    from ray import tune

    from rayjob.devices import resolve_devices
    from rayjob.ray_cluster import cluster_gpus, dashboard_wanted, init_ray, on_remote_cluster
    from rayjob.sweep.progress import SweepConsole, print_header, wrapped
    from rayjob.sweep.resources import trial_concurrency, trial_needs, trial_resources
    from rayjob.sweep.tracking import tracking_callbacks
    from rayjob.sweep.tuner import fit, make_tuner, silence_tune_output, trial_base
    from rayjob.training.trial import run_trial

    budget.start(cfg.search.time_budget)  # the clock starts before Ray does: the budget is the user's wall time
    cfg = resolve_paths(cfg)  # trials run in their own working directories
    experiment = run_dir(cfg.run.storage_path, cfg.run.name)
    restoring = _restorable(cfg, experiment, resume)
    warm = None if restoring else load_warm_start(cfg)  # a new sweep's study only; errors before Ray starts
    if extension is not None and extension.study_file is None and not restoring:  # a URI: seed a new study
        warm = fitting_trials(extension.parent, extension.earlier, cfg)
    base = base_point(cfg) if cfg.search.include_base else None
    console = SweepConsole(cfg, base)
    all_callbacks = [*tracking_callbacks(cfg, experiment), console]  # a missing key fails before Ray starts
    if not verbose:
        silence_tune_output()

    if not restoring:
        write_run_config(cfg, experiment)
    # the console reports trials itself
    started = init_ray(log_to_driver=True, hide_ray_notices=not verbose, dashboard=dashboard_wanted(cfg))
    import ray

    cluster = ray.cluster_resources()
    cfg = resolve_devices(cfg, cluster_gpus())  # one rule, fed the cluster's GPUs
    concurrency = trial_concurrency(cfg, cluster, remote=on_remote_cluster())
    print_header(cfg, concurrency, trial_needs(cfg), started)
    if warm is not None:
        print(wrapped("  warm     ", warm.describe()), flush=True)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, base=trial_base(cfg), verbose=verbose), trial_resources(cfg)
    )
    grid = fit(make_tuner(cfg, trainable, all_callbacks, concurrency, verbose, warm, extension), restoring)
    outcome = collect_outcome(grid, cfg, experiment, base)
    outcome.warm_start = warm.describe() if warm is not None and extension is None else ""
    if budget.over() and not outcome.finished and all(r.status != "UNFINISHED" for r in outcome.records):
        ended = Ended("time_budget", float(cfg.search.time_budget or 0), len(outcome.records))
        record_ended(experiment, ended)
        outcome.finished, outcome.ended = True, describe(ended)
    return _whole_sweep(outcome, cfg, extension, restoring)


def _restorable(cfg: Config, experiment: str, resume: bool) -> bool:
    """Whether ``experiment`` holds a sweep Tune can restore; the errors of one that must not be."""
    from ray import tune

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


def _whole_sweep(outcome: SweepOutcome, cfg: Config, extension: Extension | None, restored: bool) -> SweepOutcome:
    """An extension's outcome joined to the sweep it extends; a restored sweep keeps its extensions' trials."""
    if extension is not None:
        outcome.records = extension.earlier + outcome.records
        outcome.experiment = extension.parent
        if outcome.finished:
            mark_extended(extension, cfg.search.num_samples)
    elif restored:  # trials added by --extend live in their own experiments: keep their records
        known = {r.trial_id for r in outcome.records}
        outcome.records += [r for r in read_records(outcome.experiment) or [] if r.trial_id not in known]
    return outcome
