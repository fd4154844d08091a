"""The sweep report: ``report.md`` and its PNGs, from the sweep's outcome (its typed trial records).

``python -m rayjob.export <sweep folder>`` rebuilds it later from ``trials.jsonl``, the same records.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import optuna

from rayjob.config import Config
from rayjob.layout import (
    CONFIG_FILE,
    LATENCY_FILE,
    REPORT_FILE,
    RUN_PLOT_FILES,
    STUDY_FILE,
    TRIALS_CSV,
    TRIALS_JSONL,
    export_paths,
    trial_dir_name,
)
from rayjob.outputs import plots, plots_data
from rayjob.outputs.heldout import Heldout
from rayjob.outputs.latency import pareto_front, sweep_latencies
from rayjob.outputs.onnx import latency_device
from rayjob.ranking import ranked_items
from rayjob.results import SweepOutcome, TrialRecord
from rayjob.storage import exists, join
from rayjob.sweep.space import optuna_distributions

TOP_TRIALS = 10  # rows of the report's table; trials.csv has them all
MIN_TRIALS_FOR_IMPORTANCE = 5  # below this, no importance at all
TRIALS_FOR_CONFIDENT_IMPORTANCE = 20  # below this, the plot carries a caveat


def write_report(
    outcome: SweepOutcome, cfg: Config, out: Path, export_note: str = "", heldout: Heldout | None = None
) -> Path:
    """Write ``report.md`` and its PNGs into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    ranked = ranked_items(outcome.records, lambda r: r.final, outcome.mode)
    figures = _figures(outcome, cfg, out)
    lines = [f"# Sweep report: {cfg.run.name}", "", summary_sentence(outcome)]
    if outcome.ended:
        lines += ["", outcome.ended[0].upper() + outcome.ended[1:] + "."]
    if outcome.warm_start:
        lines += ["", f"Warm start: {outcome.warm_start}."]
    lines += ["", f"Compute used: {outcome.compute()} (each trial's reserved CPUs/GPUs x the time it ran)."]
    failed = [r for r in outcome.records if r.status in ("DIVERGED", "ERROR")]
    if failed:
        lines += ["", "Trials that failed: " + ", ".join(f"`{r.trial_id}` {r.status.lower()}" for r in failed) + "."]
    best = outcome.best
    if best is not None:
        values = ", ".join(f"`{k}={_short(v)}`" for k, v in best.params.items())
        lines += ["", f"**Best trial `{best.trial_id}`**: {outcome.metric} = {best.final:.4f} at its last epoch "
                  f"({best.epochs}); {values}.", f"Checkpoint: `{best.checkpoint}`"]  # fmt: skip
        comparison = base_comparison(outcome)
        if comparison:
            lines += ["", comparison[0].upper() + comparison[1:] + " (on val, which selected it)."]
    if heldout is not None:
        lines += ["", f"## Held-out {heldout.split} accuracy", "", "| trial | role | top-1 | standard error | images |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for role, acc in (("the pick", heldout.pick), ("the base config", heldout.base)):
            if acc is not None and (role == "the pick" or acc.trial_id != heldout.pick.trial_id):
                lines.append(f"| `{acc.trial_id}` | {role} | {acc.top1:.4f} | {acc.se:.4f} | {acc.images} |")
        paired = f" Both were scored on the same images: {heldout.figures()}." if heldout.figures() else ""
        lines += ["", f"The pick: {heldout.verdict()}.{paired} A difference with McNemar's p of 0.05 or more "
                  "is within noise."]  # fmt: skip
    if export_note:
        lines += ["", export_note]
    shown = ranked[:TOP_TRIALS]
    heading = "## Top trials" if len(shown) == len(ranked) else f"## Top {len(shown)} of {len(ranked)} trials"
    lines += ["", heading, "", "By the metric at each trial's last epoch; every trial is in `trials.csv`.", "",
              _table(shown, outcome)]  # fmt: skip
    for title, file, caption in figures:
        image = ["", f"![{title}]({file})"] if file else []
        lines += ["", f"## {title}", *image] + (["", caption] if caption else [])
    lines += ["", "## Files", "", *files_section(outcome, out)]
    report = out / REPORT_FILE
    report.write_text("\n".join(lines) + "\n")
    return report


def files_section(outcome: SweepOutcome, out: Path) -> list[str]:
    """A linked line for each file of the sweep a user reads, of those written (the report's own PNGs are above)."""

    onnx, sidecar = (path.rsplit("/", 1)[-1] for path in export_paths(outcome.experiment))
    files = [(TRIALS_CSV, "every trial: status, values, metric, compute"), (TRIALS_JSONL, "the same, typed"),
             (CONFIG_FILE, "the sweep's resolved config"),
             (STUDY_FILE, "the Optuna study: `optuna-dashboard optuna_journal.log`"),
             (f"export/{onnx}", "the best trial's EMA model"),
             (f"export/{sidecar}", "its labels, preprocessing, checks"),
             (LATENCY_FILE, "onnxruntime latency per architecture")]  # fmt: skip
    written = [(name, what) for name, what in files if (out / name).is_file() or exists(join(outcome.experiment, name))]
    lines = [f"- [`{name}`]({name}): {what}" for name, what in written]
    return [*lines, "- `trial-<id>/`: each trial's results and plots (`confusion_matrix.png`, `history.png`, "
            "`samples.png`)"]  # fmt: skip


def summary_sentence(outcome: SweepOutcome) -> str:
    counts = outcome.counts()
    unfinished = f", {counts['UNFINISHED']} unfinished" if counts["UNFINISHED"] else ""
    return (
        f"{len(outcome.records)} trials ({counts['COMPLETED']} completed, {counts['STOPPED']} stopped early by "
        f"the scheduler, {counts['DIVERGED']} diverged (loss NaN/inf), {counts['ERROR']} errored{unfinished}), "
        f"{outcome.epochs} epochs of a possible {len(outcome.records) * outcome.max_epochs}; metric "
        f"`{outcome.metric}` ({outcome.mode})."
    )


def base_comparison(outcome: SweepOutcome) -> str:
    """``+0.8 pp over the base config (trial x, 0.9876)`` at their last epochs, or "" without a base trial."""
    best, base = outcome.best, outcome.base
    if best is None or base is None or base.final is None:
        return ""
    if best.trial_id == base.trial_id:
        return f"the base config itself is the best trial ({base.final:.4f}); no searched point beat it"
    reference = f"the base config (trial {base.trial_id}, {base.final:.4f})"
    if outcome.mode == "max" and "loss" not in outcome.metric:
        return f"{(best.final - base.final) * 100:+.2f} pp over {reference}"
    return f"{outcome.metric} {best.final - base.final:+.4f} against {reference}"


def _figures(outcome: SweepOutcome, cfg: Config, out: Path) -> list[tuple[str, str, str]]:
    """Render every figure the records allow; returns (title, file, caption) of each."""

    figures = []
    progress = best_so_far_points(outcome)
    if progress:
        plots.best_so_far_png(progress, outcome.metric, out / "best_so_far.png")
        caption = ("Every trial at its last epoch, in start order. Rings: stopped early, so the value is an early "
                   "epoch's; the best-so-far line counts only trials that ran every epoch.")  # fmt: skip
        figures.append(("Best so far, by trial and by wall time", "best_so_far.png", caption))
    curves = learning_curves(outcome)
    if any(c.epochs for c in curves):
        plots.learning_curves_png(curves, outcome.metric, out / "learning_curves.png")
        figures.append(("Learning curves (trials stopped early are short and dashed)", "learning_curves.png", ""))
    at_epoch = params_at_one_epoch(outcome, list(cfg.search.space))
    if at_epoch is not None:
        epoch, params, values, full = at_epoch
        plots.metric_vs_params_png(params, values, full, f"{outcome.metric} at epoch {epoch}",
                                   out / "metric_vs_params.png")  # fmt: skip
        caption = (f"Each trial's value at epoch {epoch}, which every trial reached, so all are compared at one "
                   "epoch. Filled: the trial went on to run every epoch; rings: it was stopped early.")
        figures.append((f"{outcome.metric} at epoch {epoch} against each searched parameter", "metric_vs_params.png",
                        caption))  # fmt: skip
    figures += _importance_figure(outcome, cfg, out)
    figures += _latency_figure(outcome, cfg, out)
    figures += _best_trial_figures(outcome, out)
    return figures


def best_so_far_points(outcome: SweepOutcome) -> list[plots_data.Progress]:
    """Every trial with a value, in start order: its number, seconds from the sweep's start to its end, its value
    at its last epoch, whether it ran every epoch, and the best so far of the trials that did (None before one)."""
    scored = sorted((r for r in outcome.records if r.final is not None),
                    key=lambda r: (r.started is None, r.started or 0.0, r.trial_id))  # fmt: skip
    t0 = min((r.started for r in scored if r.started is not None), default=0.0)
    pick = max if outcome.mode == "max" else min
    points, best = [], None
    for number, r in enumerate(scored, 1):
        completed = r.status == "COMPLETED"
        if completed:
            best = r.final if best is None else pick(best, r.final)
        ended = None if r.ended is None else r.ended - t0
        points.append(plots_data.Progress(number, r.trial_id, ended, float(r.final), completed, best))
    return points


def learning_curves(outcome: SweepOutcome) -> list[plots_data.Curve]:
    """Each trial's metric per epoch, its status, and its role: the best trial, the base config, or neither."""
    best = outcome.best
    curves = []
    for r in outcome.records:
        role = "best" if best is not None and r.trial_id == best.trial_id else "base" if r.is_base else ""
        curves.append(plots_data.Curve(r.trial_id, list(range(1, len(r.curve) + 1)), _nan(r.curve), r.status, role))
    return curves


def params_at_one_epoch(
    outcome: SweepOutcome, keys: list[str]
) -> tuple[int, dict[str, list[Any]], list[float], list[bool]] | None:
    """(epoch, searched values, metric values, ran every epoch) of the trials, at the last epoch every trial that
    trained reached: comparing epoch 6 with epoch 3 would show which trials were stopped, not what a value does."""
    trained = [r for r in outcome.records if r.epochs > 0]
    if not trained or not keys:
        return None
    epoch = min(r.epochs for r in trained)
    judged = [r for r in trained if r.value_at(epoch) is not None]
    if not judged:
        return None
    params = {k: [r.params.get(k) for r in judged] for k in keys}
    return epoch, params, [float(r.value_at(epoch)) for r in judged], [r.status == "COMPLETED" for r in judged]


def _latency_figure(outcome: SweepOutcome, cfg: Config, out: Path) -> list[tuple[str, str, str]]:
    scored = [r for r in outcome.records if r.final is not None]
    if not scored:
        return []
    latencies = sweep_latencies(scored, cfg, outcome.experiment)
    title = f"{outcome.metric} against latency"
    distinct = {round(ms, 3) for ms in latencies.values()}
    if len(distinct) < 2:
        return [(title, "", f"Every trial has the same architecture and input size, so the same latency "
                 f"({min(distinct):.2f} ms at batch 1, onnxruntime on {latency_device()}): no trade-off to show.")]
    points = {r.trial_id: (float(r.final), latencies[r.trial_id]) for r in scored}
    front = pareto_front(points, outcome.mode)
    plots.accuracy_latency_png(points, front, {r.trial_id: r.status == "COMPLETED" for r in scored},
                               outcome.metric, latency_device(), out / "accuracy_latency.png")  # fmt: skip
    caption = (
        f"Latency is measured once per architecture and input size (cached in `export/latency.json`); "
        f"{len(distinct)} distinct. Accuracy is the selection metric (val): picking on test would spend the "
        "held-out split. `python -m rayjob.export <sweep> --fastest-within PP` exports the fastest trial within PP "
        "points of the best."
    )
    return [(title, "accuracy_latency.png", caption)]


def _importance_figure(outcome: SweepOutcome, cfg: Config, out: Path) -> list[tuple[str, str, str]]:
    importances, epoch, trials, why_not = parameter_importance(outcome.records, cfg)
    if not importances:
        return [("Parameter importance", "", f"Not computed: {why_not}.")]
    plots.importance_png(importances, out / "importance.png")
    caption = (
        f"fANOVA over {trials} trials, each judged by `{outcome.metric}` at epoch {epoch}, the last epoch every "
        "finished trial reached (one fidelity: trials stopped early are not compared with finished ones at "
        "different epochs)."
    )
    if trials < TRIALS_FOR_CONFIDENT_IMPORTANCE:
        caption += f" With fewer than {TRIALS_FOR_CONFIDENT_IMPORTANCE} trials, read it as a rough guide only."
    return [("Parameter importance (optuna fANOVA)", "importance.png", caption)]


def parameter_importance(records: list[TrialRecord], cfg: Config) -> tuple[dict[str, float], int, int, str]:
    """fANOVA importances at one fidelity: (importances, epoch, trials used, why not computed)."""

    finished = [r for r in records if r.status in ("COMPLETED", "STOPPED") and r.epochs > 0]
    epoch = min((r.epochs for r in finished), default=0)
    judged = [(r, r.value_at(epoch)) for r in finished]
    judged = [(r, v) for r, v in judged if v is not None]
    varied = [k for k in cfg.search.space if len({repr(r.params.get(k)) for r, _ in judged}) > 1]
    if len(judged) < MIN_TRIALS_FOR_IMPORTANCE or not varied:
        why = (f"it needs at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials whose searched values differ; "
               f"this sweep has {len(judged)}")  # fmt: skip
        return {}, epoch, len(judged), why
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = optuna_distributions(cfg)
    study = optuna.create_study(direction="maximize" if cfg.search.mode == "max" else "minimize")
    for record, value in judged:
        study.add_trial(optuna.trial.create_trial(params=record.params, distributions=distributions, value=value))
    try:
        # fANOVA named: optuna 5 made PED-ANOVA the default, which warns (a 200-column line in the log) when
        # every trial scored the same; seeded, so a rerun of the report draws the same forest.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator, params=varied)
        return importances, epoch, len(judged), ""
    except (ValueError, RuntimeError) as err:
        return {}, epoch, len(judged), str(err)


def _best_trial_figures(outcome: SweepOutcome, out: Path) -> list[tuple[str, str, str]]:
    """The best trial's own plots, copied next to the report and linked from it."""
    best = outcome.best
    if best is None:
        return []
    titles = {"confusion_matrix.png": "confusion matrix of its EMA model on val",
              "history.png": "loss and accuracy by epoch",
              "samples.png": "validation images: its most confident mistakes, then others"}  # fmt: skip
    figures = []
    for name in RUN_PLOT_FILES:
        source = out / trial_dir_name(best.trial_id) / name
        if source.is_file():
            shutil.copy(source, out / f"best_{name}")
            figures.append((f"Best trial {best.trial_id}: {titles[name]}", f"best_{name}", ""))
    return figures


def _table(records: list[TrialRecord], outcome: SweepOutcome) -> str:
    keys = sorted({k for r in outcome.records for k in r.params})
    header = ["trial", "status", f"{outcome.metric} (last epoch)", "epochs", "peak", "peak epoch", "CPU-h", "GPU-h",
              *keys]  # fmt: skip
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        trial = f"{r.trial_id} (base)" if r.is_base else r.trial_id
        peak = "" if r.best is None else f"{r.best:.4f}"
        cells = [trial, r.status, f"{r.final:.4f}", str(r.epochs), peak, str(r.best_epoch), f"{r.cpu_hours:.3f}",
                 f"{r.gpu_hours:.3f}"]  # fmt: skip
        cells += [_short(r.params.get(k)) for k in keys]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]
