"""Held-out accuracy of the sweep's pick and of its base trial, with binomial standard errors, and their
difference judged as the paired measurement it is.

The sweep selects on val; the test split (``<data.root>/test``, 1,147 images in the embedded
camera-digits) was never looked at. Both checkpoints are evaluated there with their EMA weights, on the
same images, so their difference has a paired standard error (from the images one got right and the other
wrong) and McNemar's exact test gives its p-value. A difference with p >= 0.05 is "within noise".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayjob.data.files import scan_dataset
from rayjob.data.sources import resolve_root
from rayjob.outputs.onnx import load_ema_model
from rayjob.results import SweepOutcome
from rayjob.storage import local_copy, scratch_dir

NOISE_P = 0.05  # McNemar's two-sided p at or above this: "within noise"


@dataclass
class Accuracy:
    trial_id: str
    top1: float
    images: int
    hits: tuple[bool, ...] = field(default=(), repr=False)  # per image, in the split's order: right or wrong

    @property
    def se(self) -> float:
        return binomial_se(self.top1, self.images)

    def to_dict(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "top1": self.top1, "images": self.images, "se": self.se}


@dataclass(frozen=True)
class Paired:
    """Two models scored on the same n images: ``b`` images only the first got right, ``c`` only the second."""

    b: int
    c: int
    n: int

    @property
    def diff(self) -> float:
        return (self.b - self.c) / self.n

    @property
    def se(self) -> float:
        """The standard error of the mean per-image difference (each image: +1, 0 or -1)."""
        if self.n < 2:
            return math.inf
        variance = (self.b + self.c - (self.b - self.c) ** 2 / self.n) / (self.n - 1)
        return math.sqrt(max(variance, 0.0) / self.n)

    @property
    def ci95(self) -> tuple[float, float]:
        return self.diff - 1.96 * self.se, self.diff + 1.96 * self.se

    @property
    def p_value(self) -> float:
        """McNemar's exact test: two-sided binomial test of b against c at 1/2."""
        m = self.b + self.c
        if m == 0:
            return 1.0
        tail = sum(math.comb(m, k) for k in range(min(self.b, self.c) + 1))
        return min(1.0, 2 * tail / 2**m)


def paired(first: tuple[bool, ...], second: tuple[bool, ...]) -> Paired:
    if len(first) != len(second):
        raise ValueError(f"paired scores need the same images: {len(first)} against {len(second)}")
    b = sum(x and not y for x, y in zip(first, second, strict=True))
    c = sum(y and not x for x, y in zip(first, second, strict=True))
    return Paired(b, c, len(first))


@dataclass
class Heldout:
    """The pick and the base on the held-out split (``split``: test, or val when the data has none)."""

    split: str
    pick: Accuracy
    base: Accuracy | None

    @property
    def comparison(self) -> Paired | None:
        if self.base is None or self.base.trial_id == self.pick.trial_id or not self.pick.hits:
            return None
        return paired(self.pick.hits, self.base.hits)

    @property
    def gain_se(self) -> float | None:
        """The pick's gain over the base in units of its paired standard error."""
        pair = self.comparison
        if pair is None:
            return None
        return pair.diff / pair.se if pair.se > 0 else (math.copysign(math.inf, pair.diff) if pair.diff else 0.0)

    def verdict(self) -> str:
        """``+3.14 pp against the base (McNemar p 0.0001)``, or ``+0.90 pp against the base: within noise
        (McNemar p 0.31)`` when p >= 0.05."""
        pair = self.comparison
        if pair is None:
            return "the pick is the base config"
        noise = ": within noise" if pair.p_value >= NOISE_P else ""
        return f"{pair.diff * 100:+.2f} pp against the base{noise} (McNemar p {pair.p_value:.2g})"

    def figures(self) -> str:
        """The paired difference's standard error and 95% interval, in words; "" without a base to compare."""
        pair = self.comparison
        if pair is None:
            return ""
        low, high = pair.ci95
        return (f"paired SE {pair.se * 100:.2f} pp, 95% CI {low * 100:+.2f} to {high * 100:+.2f} pp; "
                f"only one right: pick {pair.b}, base {pair.c}")  # fmt: skip

    def lines(self) -> list[tuple[str, str]]:
        """(label, text) rows for the summary: each accuracy with its SE, then the verdict."""
        rows = [(f"{self.split} top-1", f"{_with_se(self.pick)} (trial {self.pick.trial_id}, the pick)")]
        if self.base is not None and self.base.trial_id != self.pick.trial_id:
            rows.append(("", f"{_with_se(self.base)} (trial {self.base.trial_id}, the base config)"))
        rows.append(("", self.verdict()))
        if self.figures():
            rows.append(("", self.figures()))
        return rows

    def to_dict(self) -> dict[str, Any]:
        pair = self.comparison
        return {"split": self.split, "pick": self.pick.to_dict(),
                "base": None if self.base is None else self.base.to_dict(),
                "paired": None if pair is None else {"only_pick_right": pair.b, "only_base_right": pair.c,
                                                     "diff": pair.diff, "se": pair.se, "p_value": pair.p_value},
                "gain_se": self.gain_se, "verdict": self.verdict(), "figures": self.figures()}  # fmt: skip


def binomial_se(p: float, n: int) -> float:
    """sqrt(p (1 - p) / n): the standard error of an accuracy measured on n independent images."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else math.inf


def _with_se(acc: Accuracy) -> str:
    return f"{acc.top1:.4f} +- {acc.se:.4f} ({acc.images} images)"


def held_out(outcome: SweepOutcome) -> Heldout | None:
    """``evaluate_heldout`` with its own scratch folder (for checkpoints on a URI)."""

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

    model, cfg, _, _ = load_ema_model(local_copy(checkpoint, scratch))
    splits = scan_dataset(resolve_root(cfg.data)).splits
    name = "test" if "test" in splits else "val"
    hits: list[bool] = []
    with torch.inference_mode():
        for images, labels in eval_batches(cfg.data, splits[name], 256):
            hits += (model(images).argmax(1) == labels).tolist()
    return name, Accuracy(trial_id, sum(hits) / max(1, len(hits)), len(hits), tuple(hits))
