"""Matplotlib figures (Agg, PNG): per-run plots and the sweep report's plots. Pure functions of data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rayjob.outputs.plots_data import Curve, Progress


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_png(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Row-normalized colors, raw counts written in the cells (when they fit)."""
    plt = _plt()
    n = len(classes)
    size = min(12.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if normalized[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(n), classes, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_title(f"{title} (accuracy {accuracy:.3f})")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def history_png(history: list[dict[str, float]], path: Path) -> None:
    """Loss (train and val) and accuracy (val top-1, top-5) per epoch, every epoch included."""
    plt = _plt()
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("train/loss", "o-"), ("val/loss", "s-")):
        loss_ax.plot(epochs, [h.get(key, math.nan) for h in history], style, label=key)
    for key, style in (("val/acc_top1", "o-"), ("val/acc_top5", "s--")):
        acc_ax.plot(epochs, [h.get(key, math.nan) for h in history], style, label=key)
    loss_ax.set_title("loss")
    acc_ax.set_title("validation accuracy (EMA weights)")
    acc_ax.set_ylim(0, 1.02)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(epochs if len(epochs) <= 20 else ax.get_xticks())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sample_grid_png(
    images: np.ndarray, true: Sequence[str], predicted: Sequence[str], confidence: np.ndarray | None, path: Path
) -> None:
    """Images (N, H, W, 3 in [0, 1]) titled 'true -> predicted 93%'; a wrong one is marked with an x and red,
    a right one green (the mark does not rely on colour).

    One mosaic in one axes, not an axes per image: 32 axes and their layout took 1.76 s a grid here, the
    mosaic 0.23-0.28 s (mean of 3 calls, one run each), and the post-hook draws one per trial."""
    plt = _plt()
    n, height, width = images.shape[:3]
    cols = min(8, n)
    rows = math.ceil(n / cols)
    gap_x = max(1, width // 8)  # between cells
    gap_y = math.ceil(18 * (width + gap_x) / 170)  # above each cell, ~18 px of the drawn figure for its label
    mosaic = np.ones((rows * (height + gap_y), cols * (width + gap_x), 3))
    width_in = 1.7 * cols
    height_in = width_in * mosaic.shape[0] / mosaic.shape[1] + 0.35  # the mosaic's own aspect, and the title
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    for i, (image, t, p) in enumerate(zip(images, true, predicted, strict=False)):
        row, col = divmod(i, cols)
        y, x = row * (height + gap_y) + gap_y, col * (width + gap_x)
        mosaic[y : y + height, x : x + width] = np.clip(image, 0, 1)
        sure = "" if confidence is None else f" {confidence[i]:.0%}"
        mark = "" if t == p else "x "
        ax.text(x + width / 2, y - 1, f"{mark}{t} -> {p}{sure}", color="green" if t == p else "red", fontsize=8,
                ha="center", va="bottom")  # fmt: skip
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    wrong = sum(t != p for t, p in zip(true, predicted, strict=False))
    title = "validation images, true -> predicted (confidence)"
    fig.suptitle(f"{title}: {wrong} wrong (x), most confident mistakes first" if wrong else title, fontsize=10,
                 y=1 - 0.05 / height_in, va="top")  # fmt: skip
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.35 / height_in)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def best_so_far_png(points: Sequence[Progress], metric: str, path: Path) -> None:
    """Every trial's value at its last epoch against its number and against the time it ended; filled dots ran
    every epoch, rings were stopped early; the best-so-far line steps at trials that ran every epoch."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(10, 4))
    timed = [p for p in points if p.ended_s is not None]
    for ax, shown, x in ((by_trial, points, lambda p: p.number), (by_time, timed, lambda p: p.ended_s)):
        done = [p for p in shown if p.completed]
        stopped = [p for p in shown if not p.completed]
        ax.scatter([x(p) for p in done], [p.value for p in done], color="C0", label="ran every epoch")
        ax.scatter([x(p) for p in stopped], [p.value for p in stopped], facecolors="none", edgecolors="gray",
                   label="stopped early (its last epoch)")  # fmt: skip
        line = [p for p in shown if p.best_so_far is not None]
        ax.step([x(p) for p in line], [p.best_so_far for p in line], where="post", color="C1", label="best so far")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    by_trial.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_trial.set_xlabel("trial (in start order)")
    by_time.set_xlabel("seconds since the first trial started (at the trial's end)")
    handles, labels = by_trial.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curves_png(curves: Sequence[Curve], metric: str, path: Path) -> None:
    """``metric`` per epoch for every trial: stopped trials short and dashed, the best trial and the base config
    drawn over the others; the legend names only the statuses that occur."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {"COMPLETED": "tab:blue", "STOPPED": "tab:orange", "DIVERGED": "tab:purple", "ERROR": "tab:red",
              "UNFINISHED": "gray"}  # fmt: skip
    for curve in sorted(curves, key=lambda c: c.role != ""):  # the marked ones on top
        style = "-" if curve.status == "COMPLETED" else "--"
        if curve.role == "best":
            ax.plot(curve.epochs, curve.values, style, marker="o", color="black", lw=2.5, zorder=3,
                    label=f"best trial {curve.trial_id}")  # fmt: skip
        elif curve.role == "base":
            ax.plot(curve.epochs, curve.values, style, marker="s", color="tab:green", lw=2, zorder=3,
                    label=f"base config {curve.trial_id}")  # fmt: skip
        else:
            ax.plot(curve.epochs, curve.values, style, marker="o", color=colors.get(curve.status, "gray"), alpha=0.6)
    for status in [s for s in colors if any(c.status == s and not c.role for c in curves)]:
        ax.plot([], [], "-" if status == "COMPLETED" else "--", color=colors[status], label=status.lower())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"learning curves of all {len(curves)} trials")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def metric_vs_params_png(
    params: dict[str, list[Any]], values: list[float], ran_to_end: list[bool], metric: str, path: Path
) -> None:
    """One panel per searched parameter: each trial's metric (at one epoch) against its value. Trials that went on
    to run every epoch are filled dots, trials stopped early grey rings. A parameter with a few distinct values
    gets one labelled column per value."""
    plt = _plt()
    full = np.asarray(ran_to_end, dtype=bool)
    names = list(params)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        column = params[name]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column)
        distinct = sorted(set(column), key=lambda v: (not numeric, v if numeric else str(v)))
        if numeric and len(distinct) > 8:
            x = np.asarray(column, dtype=float)
            if all(v > 0 for v in column) and max(column) / min(column) > 20:
                ax.set_xscale("log")
        else:
            x = np.asarray([distinct.index(v) for v in column], dtype=float)
            ax.set_xticks(range(len(distinct)), [f"{v:.3g}" if isinstance(v, float) else str(v) for v in distinct],
                          rotation=20 if len(distinct) > 4 else 0)  # fmt: skip
            ax.set_xlim(-0.5, len(distinct) - 0.5)
        y = np.asarray(values, dtype=float)
        ax.scatter(x[full], y[full], alpha=0.8, label="ran every epoch")
        ax.scatter(x[~full], y[~full], facecolors="none", edgecolors="gray", label="stopped early")
        ax.set_title(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.6 / (3.3 * rows + 0.6), 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def accuracy_latency_png(
    points: dict[str, tuple[float, float]], front: set[str], full: dict[str, bool], metric: str, device: str,
    path: Path,
) -> None:
    """Each trial's metric against its model's batch-1 latency; the Pareto front joined and ringed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for trial_id, (value, ms) in points.items():
        style = {"color": "C0"} if full[trial_id] else {"facecolors": "none", "edgecolors": "C0"}
        ax.scatter([ms], [value], s=30, **style)
    edge = sorted((points[t][1], points[t][0]) for t in front)
    ax.plot([ms for ms, _ in edge], [v for _, v in edge], color="C3", marker="o", mfc="none", ms=11,
            label="Pareto front")  # fmt: skip
    ax.set_xlabel(f"onnxruntime latency at batch 1 (ms; {device})")
    ax.set_ylabel(f"{metric} (last epoch)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def importance_png(importances: dict[str, float], path: Path) -> None:
    plt = _plt()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    ax.barh(names, [importances[n] for n in names])
    ax.set_xlabel("importance (optuna fANOVA)")
    ax.set_title("which searched parameters mattered")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
