"""The sweep machinery behind ``python -m rayjob.tune``: searcher, scheduler, Tuner, restore.

- Searcher: Optuna through rayjob's ``StudySearcher`` (ask/tell; no point twice), sampling the space as
  Optuna distributions keyed by dotted config keys. TPE starts with ``search.startup_fraction`` of the
  trials (Optuna's default is a constant 10, which makes a 10-trial "TPE" sweep pure random search),
  spread over the space (``space.spread_points``) or drawn at random, then models it jointly (multivariate, grouped)
  and lies about running trials (constant liar) so parallel trials are not near-duplicates.
  ``search.algorithm: random`` is the honest baseline.
- The base trial: the config's own values are the first trial and are never stopped early, so a sweep
  ends at least as good as not sweeping, and the summary can say by how much it beat its base.
- Scheduler: ASHA on the epoch counter (``sweep.rung_scheduler.RungScheduler``, rayjob's own on Tune's public
  interface: a rung ranks a trial only once it holds ``reduction_factor`` results, until then the trial
  is paused; ties on the metric are broken by val loss; its state is saved with the sweep for --resume).
  Its first rung is never inside the LR warmup (a trial judged while its LR still ramps up says little
  about where it ends);
  ``search.brackets`` > 1 hedges against stopping slow starters. A rung compares the EMA validation
  metric (validation runs on EMA weights).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune import Callback
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from rayjob.config import Config
from rayjob.console import say
from rayjob.layout import SCHEDULER_STATE_FILE, STUDY_FILE, run_dir, trial_dir_name
from rayjob.ranking import tiebreak_of
from rayjob.results import TrialRecord
from rayjob.storage import is_uri, join
from rayjob.sweep.budget import BudgetStopper
from rayjob.sweep.extend import Extension
from rayjob.sweep.grace_period import grace_period
from rayjob.sweep.optuna_search import StudySearcher
from rayjob.sweep.rung_scheduler import RungScheduler, SlotLimiter
from rayjob.sweep.space import base_trial, first_points, optuna_distributions, spread_points
from rayjob.sweep.tune_logs import tell_temp_file_races_in_one_line
from rayjob.sweep.warm_start import WarmStart


def build_scheduler(cfg: Config, earlier: list[TrialRecord] | None = None) -> TrialScheduler:
    """``earlier``: trials of the sweep being extended, put on the rungs before any new trial arrives."""

    if cfg.search.scheduler == "fifo":
        return FIFOScheduler()
    scheduler = RungScheduler(
        max_t=cfg.trainer.max_epochs,
        grace_period=grace_period(cfg),
        reduction_factor=cfg.search.reduction_factor,
        num_samples=cfg.search.num_samples,
        keep=base_trial(cfg),
        brackets=cfg.search.brackets,
        signal=(cfg.search.metric, cfg.search.mode),
        tiebreak=tiebreak_of(cfg.search.metric),
        state_file=join(run_dir(cfg.run.storage_path, cfg.run.name), SCHEDULER_STATE_FILE),
        time_attr="epoch",  # not training_iteration: an epoch redone after a restart is still that epoch
        margin=cfg.search.stop_margin,
    )
    for record in earlier or []:
        scheduler.record_earlier(record.trial_id, record.curve)
    return scheduler


def build_searcher(
    cfg: Config, study_file: Path | None, warm: WarmStart | None = None, study_name: str | None = None
) -> StudySearcher:
    """rayjob's Optuna searcher with a sampler sized for the budget; the study lives in ``study_file`` if given."""

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    search = cfg.search
    distributions, first = optuna_distributions(cfg), first_points(cfg)
    if search.algorithm == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=search.seed)
    else:
        startup = max(1, math.ceil(search.startup_fraction * search.num_samples))
        sampler = optuna.samplers.TPESampler(n_startup_trials=startup, multivariate=True, group=True,
                                             constant_liar=True, n_ei_candidates=search.tpe_candidates,
                                             seed=search.seed)  # fmt: skip
        spread = startup - len(first) - len(warm.trials if warm is not None else [])
        if search.startup == "spread" and spread > 0:  # the rest of the startup, queued after the first points
            first += spread_points(distributions, spread, search.seed, taken=first)
    storage = None
    if study_file is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(str(study_file)))
    return StudySearcher(
        distributions,
        metric=search.metric,
        mode=search.mode,
        max_epochs=cfg.trainer.max_epochs,
        sampler=sampler,
        points_to_evaluate=first,
        study_name=study_name or cfg.run.name,
        storage=storage,
        seed=search.seed,
        warm_trials=warm.trials if warm is not None else None,
        tell_stopped=search.tell_stopped,
        ordered=search.ordered_choices,
    )


def build_tune_config(
    cfg: Config,
    concurrency: int,
    study_file: Path | None,
    scheduler: Any,
    warm: WarmStart | None = None,
    extension: Extension | None = None,
) -> tune.TuneConfig:
    """Tune's settings for a sweep of ``cfg`` under ``scheduler`` (``build_scheduler``'s, or any Tune scheduler);
    ``warm``: earlier trials for the new study (``search.warm_start``); ``extension``: the sweep ``--extend``
    adds to."""

    study_name = extension.study_name if extension else None
    rungs = scheduler if isinstance(scheduler, RungScheduler) else None
    return tune.TuneConfig(
        metric=cfg.search.metric,
        mode=cfg.search.mode,
        search_alg=SlotLimiter(build_searcher(cfg, study_file, warm, study_name), concurrency, rungs),
        scheduler=scheduler,
        num_samples=cfg.search.num_samples,
        reuse_actors=cfg.scaling.num_workers == 0,  # in-process trials: no new process per trial
        trial_dirname_creator=lambda trial: trial_dir_name(trial.trial_id),
    )


def silence_tune_output() -> None:
    """With ``verbose=0`` and Ray's old output engine Tune prints no tables or boxes: rayjob's console reports.
    Read by Ray when the Tuner runs, so it is set before ``fit``."""
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    tell_temp_file_races_in_one_line()


def build_run_config(cfg: Config, callbacks: list[Any], verbose: bool) -> tune.RunConfig:
    return tune.RunConfig(
        name=cfg.run.name,
        storage_path=cfg.run.storage_path,
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=cfg.run.checkpoints_to_keep,
            checkpoint_score_attribute="epoch",  # the newest: a trial is judged by its final model
            checkpoint_score_order="max",
        ),
        failure_config=tune.FailureConfig(max_failures=cfg.search.trial_max_failures),
        stop=BudgetStopper(),  # a no-op without search.time_budget; restored sweeps keep it
        callbacks=[*callbacks, *tune_loggers()],
        verbose=1 if verbose else 0,
    )


def tune_loggers() -> list[Callback]:
    """Tune's CSV and JSON loggers (``progress.csv`` and ``result.json`` per trial: Tune's results and
    rayjob's tables read them), without its TensorBoard logger, which a new Tuner would add by itself: its
    tensorboardX import loads torch in the driver, 1.25 s before the first trial starts, and it writes event
    files nothing reads (W&B is rayjob's tracker)."""

    return [CSVLoggerCallback(), JsonLoggerCallback()]


@contextlib.contextmanager
def _tune_default_loggers(on: bool) -> Iterator[None]:
    """Whether Tune adds its default loggers (read by Tune in ``fit``), for this fit only: not for a new
    Tuner (``tune_loggers`` are in its RunConfig); yes for a restored one, which may come from a rayjob that
    passed none. The variable's earlier value, a user's own included, is put back afterwards."""
    key, before = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS")
    if on:
        os.environ.pop(key, None)
    else:
        os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def trial_base(cfg: Config) -> dict[str, Any]:
    """The config every trial starts from: devices decided, no early stopping (the scheduler decides),
    no search section to carry around."""
    base = cfg.with_values({"trainer.early_stopping_patience": None, "search.space": {}}).to_dict()
    base["search"]["points_to_evaluate"] = []
    return base


def make_tuner(
    cfg: Config,
    trainable: Any,
    callbacks: list[Any],
    concurrency: int,
    verbose: bool,
    restoring: bool,
    warm: WarmStart | None = None,
    extension: Extension | None = None,
) -> tune.Tuner:
    """A new Tuner (its study seeded with ``warm``), or, ``restoring``, the interrupted sweep's, restored."""

    experiment = run_dir(cfg.run.storage_path, cfg.run.name)
    if restoring:
        say(f"resuming the sweep in {experiment}")
        return tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
    study_file = None if is_uri(experiment) else Path(experiment) / STUDY_FILE
    if extension is not None:
        study_file = extension.study_file
    scheduler = build_scheduler(cfg, extension.earlier if extension else None)
    return tune.Tuner(
        trainable,
        tune_config=build_tune_config(cfg, concurrency, study_file, scheduler, warm, extension),
        run_config=build_run_config(cfg, callbacks, verbose),
    )


def fit(tuner: tune.Tuner, restored: bool) -> tune.ResultGrid:
    """Run the sweep; ``restored``: ``tuner`` came from ``Tuner.restore``."""
    with _tune_default_loggers(on=restored):
        grid = tuner.fit()
    del tuner  # its callbacks' finalizers need a live Ray (WandbLoggerCallback fails at interpreter exit)
    gc.collect()
    return grid
