"""What a run shows about itself: dataset statistics and model info once, plot data every epoch.

Every epoch rank 0 writes small plot *data* into the epoch's checkpoint folder: the EMA model's
confusion matrix on val, the metric history and 16 validation samples with their predictions. It
travels wherever the checkpoint is persisted (local, Tune trial folder, cloud storage), also for
trials ASHA stops without warning. Rendering PNGs costs ~0.9 s per epoch, so it happens once, at the
end, for the checkpoints that matter (``render_run_plots``): the best epoch of a run, each trial's
best epoch after a sweep.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rayjob.console import say
from rayjob.dataset import DatasetIndex

DATA_FILE = "plot_data.npz"
HISTORY_JSON = "history.json"
PLOT_FILES = ("confusion_matrix.png", "history.png", "samples.png")


def print_dataset_stats(index: DatasetIndex, max_rows: int = 20) -> None:
    """Class counts per split and the train imbalance ratio, as a table."""
    splits = list(index.splits)
    counts = {name: index.class_counts(name) for name in splits}
    train = [c for c in counts["train"] if c]
    sizes = ", ".join(f"{name} {sum(c)}" for name, c in counts.items())
    say(f"dataset {index.root}: {len(index.classes)} classes; images: {sizes}; "
        f"train imbalance (largest/smallest class) {max(train) / min(train):.2f}")  # fmt: skip
    width = max(5, *(len(c) for c in index.classes[:max_rows]))
    say("  " + "class".ljust(width) + "".join(f"{name:>8}" for name in splits))
    for i, name in enumerate(index.classes[:max_rows]):
        say("  " + name.ljust(width) + "".join(f"{counts[s][i]:>8}" for s in splits))
    if len(index.classes) > max_rows:
        say(f"  ... {len(index.classes) - max_rows} more classes")


def write_epoch_data(trainer: Any, module: Any, folder: Path, history: list[dict[str, float]]) -> None:
    """Confusion matrix, history and samples of this epoch as data files. Call on every rank (DDP sync)."""
    confusion = module.val_confusion.compute().cpu().numpy()
    if not trainer.is_global_zero:
        return
    (folder / HISTORY_JSON).write_text(json.dumps(history, indent=1))
    arrays: dict[str, Any] = {"confusion": confusion, "classes": np.array(module.classes)}
    if module.val_samples is not None:
        images, true, predicted = module.val_samples
        mean = np.array(module.cfg.data.mean).reshape(1, 3, 1, 1)
        std = np.array(module.cfg.data.std).reshape(1, 3, 1, 1)
        pixels = np.clip(images.float().numpy() * std + mean, 0, 1).transpose(0, 2, 3, 1)
        arrays.update(images=(pixels * 255).round().astype(np.uint8), true=true.numpy(), predicted=predicted.numpy())
    np.savez_compressed(folder / DATA_FILE, **arrays)


def render_run_plots(checkpoint_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """PNG plots from a checkpoint folder's plot data, into ``out_dir`` (default: the same folder)."""
    from rayjob import plots

    out_dir = out_dir or checkpoint_dir
    data_file, history_file = checkpoint_dir / DATA_FILE, checkpoint_dir / HISTORY_JSON
    if not data_file.is_file() or not history_file.is_file():
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    history = json.loads(history_file.read_text())
    with np.load(data_file) as data:
        classes = [str(c) for c in data["classes"]]
        epoch = int(history[-1]["epoch"]) if history else 0
        plots.confusion_matrix_png(data["confusion"], classes, out_dir / "confusion_matrix.png",
                                   f"EMA model on val, epoch {epoch}")  # fmt: skip
        written = [out_dir / "confusion_matrix.png"]
        if "images" in data:
            names_true = [classes[i] for i in data["true"]]
            names_pred = [classes[i] for i in data["predicted"]]
            plots.sample_grid_png(data["images"] / 255.0, names_true, names_pred, out_dir / "samples.png")
            written.append(out_dir / "samples.png")
    plots.history_png(history, out_dir / "history.png")
    written.append(out_dir / "history.png")
    if out_dir != checkpoint_dir:
        shutil.copy(history_file, out_dir / HISTORY_JSON)
    return written
