"""The one rule that decides "best": of epochs within a run, and of trials within a sweep."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def score(value: Any, mode: str) -> float:
    """Higher is better whatever ``mode`` is; a missing or NaN value ranks last."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return -math.inf
    return float(value) if mode == "max" else -float(value)


def best(items: Iterable[T], value_of: Callable[[T], Any], mode: str) -> T | None:
    """The best item by ``value_of`` (the first of equals); None when no item has a finite value."""
    ranked = ranked_items(items, value_of, mode)
    return ranked[0] if ranked else None


def ranked_items(items: Iterable[T], value_of: Callable[[T], Any], mode: str) -> list[T]:
    """Items with a value, best first; ties keep their order (the earlier epoch or trial wins)."""
    scored = [(score(value_of(item), mode), i, item) for i, item in enumerate(items)]
    return [item for s, _, item in sorted(scored, key=lambda t: (-t[0], t[1])) if s != -math.inf]


def metric_of(metric: str) -> Callable[[Mapping[str, Any]], Any]:
    """``value_of`` for metric dicts: ``best(epochs, metric_of("val/acc_top1"), "max")``."""
    return lambda metrics: metrics.get(metric)


def tiebreak_of(metric: str) -> tuple[str, str]:
    """The second signal that breaks ties of ``metric`` (at a rung, and between trials): (name, mode).
    Val loss, or val top-1 when the metric is the loss: many trials share 0.1000 at chance."""
    return ("val/acc_top1", "max") if metric == "val/loss" else ("val/loss", "min")
