"""The dataset table printed once at the start of a run: images per class and split, imbalance."""

from __future__ import annotations

from rayjob.console import run_log
from rayjob.data.files import DatasetIndex


def print_dataset_stats(index: DatasetIndex, max_rows: int = 20) -> None:
    """Class counts per split and the train imbalance ratio, as a table."""
    splits = list(index.splits)
    counts = {name: index.class_counts(name) for name in splits}
    train = [c for c in counts["train"] if c]
    sizes = ", ".join(f"{name} {sum(c)}" for name, c in counts.items())
    run_log.info(f"dataset {index.root}: {len(index.classes)} classes; images: {sizes}; "
        f"train imbalance (largest/smallest class) {max(train) / min(train):.2f}")  # fmt: skip
    width = max(5, *(len(c) for c in index.classes[:max_rows]))
    run_log.info("  " + "class".ljust(width) + "".join(f"{name:>8}" for name in splits))
    for i, name in enumerate(index.classes[:max_rows]):
        run_log.info("  " + name.ljust(width) + "".join(f"{counts[s][i]:>8}" for s in splits))
    if len(index.classes) > max_rows:
        run_log.info(f"  ... {len(index.classes) - max_rows} more classes")
