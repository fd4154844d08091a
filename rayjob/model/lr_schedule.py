"""The learning-rate schedule: linear warmup, then cosine decay, stepped per batch."""

from __future__ import annotations

import math


class WarmupCosine:
    """LR factor per step: linear warmup to 1, then cosine down to ``min_ratio`` (picklable)."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        self.warmup_steps = min(warmup_steps, total_steps - 1) if total_steps > 1 else 0
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        progress = min(progress, 1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
