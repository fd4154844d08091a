"""Held-out accuracy of the sweep's pick and of its base trial, with binomial standard errors.

The sweep selects on val; the test split (``<data.root>/test``, 1,147 images in the embedded
camera-digits) was never looked at. Both checkpoints are evaluated there with their EMA weights, and the
difference is called a gain only when it is at least 2 standard errors: a 1,147-image split at 0.80 has a
standard error of 1.2 pp, so a smaller difference is noise, however it was found.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rayjob.storage import local_copy
from rayjob.sweep.results import SweepOutcome

NOISE_SE = 2.0  # a difference below this many standard errors is "within noise"


@dataclass
class Accuracy:
    trial_id: str
    top1: float
    images: int

    @property
    def se(self) -> float:
        return binomial_se(self.top1, self.images)


@dataclass
class Heldout:
    """The pick and the base on the held-out split (``split``: test, or val when the data has none)."""

    split: str
    pick: Accuracy
    base: Accuracy | None

    @property
    def gain_se(self) -> float | None:
        """The pick's gain over the base in units of the larger of their two standard errors."""
        if self.base is None:
            return None
        se, diff = max(self.pick.se, self.base.se), self.pick.top1 - self.base.top1
        return diff / se if se > 0 else (math.copysign(math.inf, diff) if diff else 0.0)

    def verdict(self) -> str:
        """``+5.6 pp over the base (4.7 SE)`` or ``+0.9 pp: within noise (under 2 SE)``."""
        if self.base is None or self.base.trial_id == self.pick.trial_id:
            return "the pick is the base config"
        diff, z = (self.pick.top1 - self.base.top1) * 100, self.gain_se or 0.0
        if abs(z) < NOISE_SE:
            return f"{diff:+.2f} pp against the base: within noise (under {NOISE_SE:g} SE)"
        return f"{diff:+.2f} pp against the base ({z:+.1f} SE)"

    def lines(self) -> list[tuple[str, str]]:
        """(label, text) rows for the summary: each accuracy with its SE, then the verdict."""
        rows = [(f"{self.split} top-1", f"{_with_se(self.pick)} (trial {self.pick.trial_id}, the pick)")]
        if self.base is not None and self.base.trial_id != self.pick.trial_id:
            rows.append(("", f"{_with_se(self.base)} (trial {self.base.trial_id}, the base config)"))
        rows.append(("", self.verdict()))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "pick": asdict(self.pick) | {"se": self.pick.se},
                "base": None if self.base is None else asdict(self.base) | {"se": self.base.se},
                "gain_se": self.gain_se, "verdict": self.verdict()}  # fmt: skip


def binomial_se(p: float, n: int) -> float:
    """sqrt(p (1 - p) / n): the standard error of an accuracy measured on n independent images."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else math.inf


def _with_se(acc: Accuracy) -> str:
    return f"{acc.top1:.4f} +- {acc.se:.4f} ({acc.images} images)"


def held_out(outcome: SweepOutcome) -> Heldout | None:
    """``evaluate_heldout`` with its own scratch folder (for checkpoints on a URI)."""
    from rayjob.storage import scratch_dir

    with scratch_dir("rayjob-heldout-") as tmp:
        return evaluate_heldout(outcome, Path(tmp))


def evaluate_heldout(outcome: SweepOutcome, scratch: Path) -> Heldout | None:
    """Evaluate the pick and the base trial's last checkpoints on the held-out split; None without a pick."""
    pick = outcome.best
    if pick is None:
        return None
    base = outcome.base if outcome.base is not None and outcome.base.checkpoint else None
    split, pick_acc = checkpoint_accuracy(pick.checkpoint, pick.trial_id, scratch / "pick")
    base_acc = None
    if base is not None:
        base_acc = pick_acc if base.trial_id == pick.trial_id else checkpoint_accuracy(
            base.checkpoint, base.trial_id, scratch / "base")[1]  # fmt: skip
    return Heldout(split, pick_acc, base_acc)


def checkpoint_accuracy(checkpoint: str, trial_id: str, scratch: Path) -> tuple[str, Accuracy]:
    """(split, top-1) of a checkpoint's EMA weights on the test split (val when there is none), in PyTorch."""
    import torch

    from rayjob.data.dataset import eval_batches
    from rayjob.data.files import scan_dataset
    from rayjob.data.sources import resolve_root
    from rayjob.outputs.onnx import load_ema_model

    model, cfg, _, _ = load_ema_model(local_copy(checkpoint, scratch))
    splits = scan_dataset(resolve_root(cfg.data)).splits
    name = "test" if "test" in splits else "val"
    correct = total = 0
    with torch.inference_mode():
        for images, labels in eval_batches(cfg.data, splits[name], 256):
            correct += int((model(images).argmax(1) == labels).sum())
            total += len(labels)
    return name, Accuracy(trial_id, correct / max(1, total), total)
