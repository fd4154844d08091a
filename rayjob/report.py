"""The sweep report: ``report.md`` and PNGs in the experiment folder, built from files alone.

Reads ``trials.csv``, each ``trial-<id>/result.json`` (Tune's per-epoch results) and the export
sidecar, so ``python -m rayjob.export <sweep folder>`` can rebuild it long after the sweep.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rayjob.config import Config
from rayjob.observe import PLOT_FILES
from rayjob.scoring import score

REPORT_FILE = "report.md"


@dataclass
class Trial:
    trial_id: str
    status: str
    params: dict[str, Any]
    best: float
    best_epoch: int
    epochs: int
    checkpoint: str
    started: float  # unix time
    ended: float
    curve: tuple[list[int], list[float]]


def load_trials(experiment: Path, cfg: Config) -> list[Trial]:
    with open(experiment / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    trials = []
    for row in rows:
        results_file = experiment / f"trial-{row['trial_id']}" / "result.json"
        results = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.is_file() else []
        started = results[0]["timestamp"] - results[0]["time_total_s"] if results else math.nan
        trials.append(
            Trial(
                trial_id=row["trial_id"],
                status=row["status"],
                params={k: yaml.safe_load(row[k]) if row[k] else None for k in cfg.search.space},
                best=float(row["best"]),
                best_epoch=int(row["best_epoch"]),
                epochs=int(row["epochs"]),
                checkpoint=row["checkpoint"],
                started=started,
                ended=results[-1]["timestamp"] if results else math.nan,
                curve=([r["epoch"] for r in results], [r.get(cfg.search.metric, math.nan) for r in results]),
            )
        )
    return trials


def write_report(experiment: Path, cfg: Config, export_note: str = "") -> Path:
    """Write report.md and its PNGs; returns the report's path."""
    from rayjob import plots

    metric, mode = cfg.search.metric, cfg.search.mode
    trials = load_trials(experiment, cfg)
    scored = [t for t in trials if not math.isnan(t.best)]
    ranked = sorted(scored, key=lambda t: -score({"m": t.best}, "m", mode))
    by_start = sorted((t for t in scored if not math.isnan(t.started)), key=lambda t: t.started)
    figures: list[tuple[str, str]] = []

    if by_start:
        t0 = by_start[0].started
        plots.best_so_far_png(
            list(range(1, len(by_start) + 1)),
            [t.ended - t0 for t in by_start],
            [t.best for t in by_start],
            metric,
            mode,
            experiment / "best_so_far.png",
        )
        figures.append(("Best so far, by trial and by wall time", "best_so_far.png"))
    curves = {t.trial_id: (*t.curve, t.status) for t in trials if t.curve[0]}
    if curves:
        plots.learning_curves_png(curves, metric, experiment / "learning_curves.png")
        figures.append(("Learning curves (ASHA-stopped trials are short and dashed)", "learning_curves.png"))
    if scored and cfg.search.space:
        params = {k: [t.params[k] for t in scored] for k in cfg.search.space}
        plots.metric_vs_params_png(params, [t.best for t in scored], metric, experiment / "metric_vs_params.png")
        figures.append((f"{metric} against each searched parameter", "metric_vs_params.png"))
    importances, why_not = parameter_importance(scored, cfg)
    if importances:
        plots.importance_png(importances, experiment / "importance.png")
        figures.append(("Parameter importance (optuna fANOVA)", "importance.png"))
    if ranked:
        best_plots = Path(ranked[0].checkpoint).parent
        for name in PLOT_FILES:
            source = experiment / f"trial-{ranked[0].trial_id}" / name
            if not source.is_file():
                source = best_plots / name
            if source.is_file():
                shutil.copy(source, experiment / f"best_{name}")
        if (experiment / "best_confusion_matrix.png").is_file():
            figures.append(("Best trial: confusion matrix of its EMA model on val", "best_confusion_matrix.png"))

    lines = [f"# Sweep report: {experiment.name}", ""]
    statuses = {s: sum(t.status == s for t in trials) for s in ("COMPLETED", "STOPPED", "DIVERGED", "ERROR")}
    lines.append(
        f"{len(trials)} trials ({statuses['COMPLETED']} completed, {statuses['STOPPED']} stopped early by ASHA, "
        f"{statuses['DIVERGED']} diverged (loss NaN/inf), {statuses['ERROR']} errored), "
        f"{sum(t.epochs for t in trials)} epochs in all; metric `{metric}` ({mode})."
    )
    failed = [t for t in trials if t.status in ("DIVERGED", "ERROR")]
    if failed:
        lines += ["", "Trials that failed: " + ", ".join(f"`{t.trial_id}` {t.status.lower()}" for t in failed) + "."]
    if ranked:
        best = ranked[0]
        values = ", ".join(f"`{k}={v}`" for k, v in best.params.items())
        lines += [
            "",
            f"**Best trial `{best.trial_id}`**: {metric} = {best.best:.4f} at epoch {best.best_epoch}; {values}.",
        ]
        lines.append(f"Checkpoint: `{best.checkpoint}`")
    if export_note:
        lines += ["", export_note]
    lines += ["", "## Top trials", "", _table(ranked[:10], cfg)]
    if not importances:
        lines += ["", f"Parameter importance: not computed ({why_not})."]
    for title, file in figures:
        lines += ["", f"## {title}", "", f"![{title}]({file})"]
    report = experiment / REPORT_FILE
    report.write_text("\n".join(lines) + "\n")
    return report


def parameter_importance(trials: list[Trial], cfg: Config) -> tuple[dict[str, float], str]:
    """Optuna's fANOVA importances over the trials' best values, or why they could not be computed."""
    import optuna

    from rayjob.space import optuna_distributions

    varied = [k for k in cfg.search.space if len({repr(t.params[k]) for t in trials}) > 1]
    if len(trials) < 3 or not varied:
        return {}, "it needs at least 3 scored trials whose searched values differ"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = optuna_distributions(cfg)
    study = optuna.create_study(direction="maximize" if cfg.search.mode == "max" else "minimize")
    for t in trials:
        study.add_trial(optuna.trial.create_trial(params=t.params, distributions=distributions, value=t.best))
    try:
        return optuna.importance.get_param_importances(study, params=varied), ""
    except (ValueError, RuntimeError) as err:
        return {}, str(err)


def _table(trials: list[Trial], cfg: Config) -> str:
    keys = list(cfg.search.space)
    header = ["trial", "status", cfg.search.metric, "best epoch", "epochs", *keys]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in trials:
        cells = [t.trial_id, t.status, f"{t.best:.4f}", str(t.best_epoch), str(t.epochs)]
        cells += [f"{v:.4g}" if isinstance(v, float) else str(v) for v in (t.params[k] for k in keys)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
