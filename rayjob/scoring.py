"""Ranking reported epochs and trials by the configured metric, one rule everywhere."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def score(metrics: Mapping[str, Any], metric: str, mode: str) -> float:
    """Higher is better whatever ``mode`` is; a missing or NaN metric ranks last."""
    value = metrics.get(metric)
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return -math.inf
    return float(value) if mode == "max" else -float(value)
