"""Matplotlib figures (Agg, PNG): per-run plots and the sweep report's plots. Pure functions of data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


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


def sample_grid_png(images: np.ndarray, true: Sequence[str], predicted: Sequence[str], path: Path) -> None:
    """Images (N, H, W, 3 in [0, 1]) titled 'true -> predicted', green when right, red when wrong.

    One mosaic in one axes, not an axes per image: 32 axes and their layout took 1.76 s a grid here, the
    mosaic 0.23-0.28 s (mean of 3 calls, one run each), and the post-hook draws one per trial."""
    plt = _plt()
    n, height, width = images.shape[:3]
    cols = min(8, n)
    rows = math.ceil(n / cols)
    gap_x, gap_y = max(1, width // 8), max(1, height // 2)  # between cells; above each, room for its title
    mosaic = np.ones((rows * (height + gap_y), cols * (width + gap_x), 3))
    fig, ax = plt.subplots(figsize=(1.6 * cols, 2.0 * rows))
    for i, (image, t, p) in enumerate(zip(images, true, predicted, strict=False)):
        row, col = divmod(i, cols)
        y, x = row * (height + gap_y) + gap_y, col * (width + gap_x)
        mosaic[y : y + height, x : x + width] = np.clip(image, 0, 1)
        ax.text(x + width / 2, y - 1, f"{t} -> {p}", color="green" if t == p else "red", fontsize=9,
                ha="center", va="bottom")  # fmt: skip
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    fig.suptitle("validation samples: true -> predicted")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.5 / (2.0 * rows))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def best_so_far_png(
    order: list[float], when: list[float], values: list[float], metric: str, mode: str, path: Path
) -> None:
    """The best metric found so far, against trials and against wall time (the caller passes trials that ran
    every epoch: a stopped trial's early value is no final model)."""
    plt = _plt()
    pick = max if mode == "max" else min
    best = []
    for v in values:
        best.append(v if not best else pick(best[-1], v))
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(10, 4))
    by_trial.plot(order, values, "o", alpha=0.5, label="trial (last epoch)")
    by_trial.step(order, best, where="post", label="best so far")
    by_trial.set_xlabel("trial that ran every epoch (in start order)")
    by_time.plot(when, values, "o", alpha=0.5, label="trial (last epoch)")
    by_time.step(when, best, where="post", label="best so far")
    by_time.set_xlabel("seconds since the sweep started (trial end)")
    for ax in (by_trial, by_time):
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curves_png(curves: dict[str, tuple[list[int], list[float], str]], metric: str, path: Path) -> None:
    """``metric`` per epoch for every trial; trials ASHA stopped are short and dashed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {"COMPLETED": "tab:blue", "STOPPED": "tab:orange", "DIVERGED": "tab:purple", "ERROR": "tab:red"}
    for epochs, values, status in curves.values():
        ax.plot(epochs, values, "--" if status != "COMPLETED" else "-", marker="o", color=colors.get(status, "gray"),
                alpha=0.7, label=None)  # fmt: skip
    for status, color in colors.items():
        ax.plot([], [], color=color, label=status.lower())
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"learning curves of all {len(curves)} trials")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def metric_vs_params_png(
    params: dict[str, list[Any]], values: list[float], ran_to_end: list[bool], metric: str, path: Path
) -> None:
    """One panel per searched parameter: the trial's metric at its last epoch against its value. Trials that
    ran every epoch are filled dots; trials stopped early (a value at an earlier epoch) are grey rings."""
    plt = _plt()
    full = np.asarray(ran_to_end, dtype=bool)
    names = list(params)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        column = params[name]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column)
        labels = sorted({str(v) for v in column})
        x = np.asarray(column if numeric else [labels.index(str(v)) for v in column], dtype=float)
        y = np.asarray(values, dtype=float)
        ax.scatter(x[full], y[full], alpha=0.8, label="ran every epoch")
        ax.scatter(x[~full], y[~full], facecolors="none", edgecolors="gray", label="stopped early (its last epoch)")
        if numeric and all(v > 0 for v in column) and max(column) / min(column) > 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(labels)), labels, rotation=20)
        ax.set_title(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def accuracy_latency_png(
    points: dict[str, tuple[float, float]], front: set[str], full: dict[str, bool], metric: str, path: Path
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
    ax.set_xlabel("onnxruntime latency at batch 1 (ms, this machine)")
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
