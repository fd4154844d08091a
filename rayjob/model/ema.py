"""EMA of the weights on Lightning's ``WeightAveraging``, with a decay warmup.

With a fixed decay of 0.999 a short run would validate weights that are still mostly the random
initialization; the warmup uses ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates instead.
Validation runs on the EMA weights; checkpoints hold the EMA weights as ``state_dict`` and the live
ones as ``current_model_state`` (Lightning's format), and resume restores both.
"""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import WeightAveraging

from rayjob.config import EmaSection


class WarmupEmaUpdate:
    """``multi_avg_fn`` for ``AveragedModel``: a picklable EMA step (closures are not)."""

    def __init__(self, decay: float, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup

    def decay_at(self, num_averaged: torch.Tensor) -> torch.Tensor:
        """Decay of the update that follows ``num_averaged`` earlier updates, computed where the count lives:
        reading it on the host (``int(num_averaged)``) would make every step wait for the GPU."""
        if not self.warmup:
            return torch.full((), self.decay, device=num_averaged.device)
        return torch.clamp((1.0 + num_averaged) / (10.0 + num_averaged), max=self.decay)

    @torch.no_grad()
    def __call__(self, averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0]):
            weight = (1.0 - self.decay_at(num_averaged)).to(averaged[0].dtype)
            torch._foreach_lerp_(averaged, current, [weight] * len(averaged))
        else:  # integer buffers such as BatchNorm's num_batches_tracked: a count, not a weight
            for avg, cur in zip(averaged, current, strict=True):
                avg.copy_(cur)


def ema_callback(cfg: EmaSection) -> WeightAveraging | None:
    """The EMA callback for a run, or None when EMA is off. Build it inside the worker."""
    if not cfg.enabled:
        return None
    return WeightAveraging(use_buffers=True, multi_avg_fn=WarmupEmaUpdate(cfg.decay, cfg.warmup))
