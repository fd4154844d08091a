"""Real quickstart sweeps and the best point's one-trial runs, kept in ``benchmarks/real_runs.json``.

A real sweep costs minutes; what it is read against (the space's best, the recorded runs) changes as more runs
are recorded. Kept, a sweep can be read again (``search_quality.py --reread``) without training it again.
Each entry names the commit that ran it: a sweep run on older code says how that code searched.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

REAL_RUNS = Path(__file__).resolve().parent / "real_runs.json"
HOW = (
    "Written by benchmarks/search_quality.py: `sweeps` by its real sweeps (task -> trainer.seed = search.seed -> "
    "the sidecar's held-out record, the picked point, wall seconds, epochs, commit), `best_point` by --best-point "
    "(task -> point -> trainer.seed -> the point's test top-1 from a one-trial sweep, as a pick is tested)."
)


def load() -> dict[str, Any]:
    """The kept runs (empty sections when none were kept yet)."""
    if REAL_RUNS.is_file():
        return json.loads(REAL_RUNS.read_text())
    return {"how": HOW, "sweeps": {}, "best_point": {}}


def sweeps_of(task: str) -> dict[int, dict[str, Any]]:
    """The task's kept sweeps by seed."""
    return {int(seed): entry for seed, entry in load()["sweeps"].get(task, {}).items()}


def best_point_runs(task: str, point: str) -> dict[int, float]:
    """The test top-1 of ``point``'s one-trial runs on ``task``, by trainer.seed."""
    return {int(seed): top1 for seed, top1 in load()["best_point"].get(task, {}).get(point, {}).items()}


def keep_sweep(task: str, seed: int, entry: dict[str, Any]) -> None:
    """Keep one real sweep (a later sweep of the same seed replaces it: it ran on newer code)."""
    runs = load()
    runs["sweeps"].setdefault(task, {})[str(seed)] = {**entry, "commit": _commit()}
    _write(runs)


def keep_best_point_run(task: str, point: str, seed: int, top1: float) -> None:
    runs = load()
    runs["best_point"].setdefault(task, {}).setdefault(point, {})[str(seed)] = top1
    _write(runs)


def _write(runs: dict[str, Any]) -> None:
    runs["sweeps"] = {task: _by_seed(by) for task, by in sorted(runs["sweeps"].items())}
    runs["best_point"] = {task: {point: _by_seed(by) for point, by in points.items()}
                          for task, points in sorted(runs["best_point"].items())}  # fmt: skip
    REAL_RUNS.write_text(json.dumps(runs, indent=1) + "\n")


def _by_seed(by: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(by.items(), key=lambda item: int(item[0])))


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REAL_RUNS.parent)
    return done.stdout.strip() or "unknown"
