"""Per-run plots: their data captured every epoch, PNGs rendered once at the end.

Every epoch rank 0 writes small plot *data* into the epoch's checkpoint folder
(``rayjob.training.epoch_data``). Rendering PNGs costs ~0.9 s per epoch, so it happens once, at the
end, for the checkpoints that matter (``render_run_plots``): the best epoch of a run, each trial's
best epoch after a sweep.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from rayjob.layout import CHECKPOINT_HISTORY_FILE, PLOT_DATA_FILE, RUN_PLOT_FILES
from rayjob.outputs import plots
from rayjob.storage import download, exists, is_uri, join


def render_run_plots(checkpoint_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """PNG plots from a checkpoint folder's plot data, into ``out_dir`` (default: the same folder)."""

    out_dir = out_dir or checkpoint_dir
    data_file, history_file = checkpoint_dir / PLOT_DATA_FILE, checkpoint_dir / CHECKPOINT_HISTORY_FILE
    if not data_file.is_file() or not history_file.is_file():
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion_png, history_png, samples_png = (out_dir / name for name in RUN_PLOT_FILES)
    history = json.loads(history_file.read_text())
    with np.load(data_file) as data:
        classes = [str(c) for c in data["classes"]]
        epoch = int(history[-1]["epoch"]) if history else 0
        plots.confusion_matrix_png(data["confusion"], classes, confusion_png, f"EMA model on val, epoch {epoch}")
        written = [confusion_png]
        if "images" in data:
            names_true = [classes[i] for i in data["true"]]
            names_pred = [classes[i] for i in data["predicted"]]
            confidence = data.get("confidence")  # plot data written by an older rayjob has none
            plots.sample_grid_png(data["images"] / 255.0, names_true, names_pred, confidence, samples_png)
            written.append(samples_png)
    plots.history_png(history, history_png)
    written.append(history_png)
    if out_dir != checkpoint_dir:
        shutil.copy(history_file, out_dir / CHECKPOINT_HISTORY_FILE)
    return written


def fetch_plot_data(checkpoint: str, scratch: Path) -> Path | None:
    """A local folder holding the plot data saved with ``checkpoint`` (downloaded when it is a URI), or None."""
    folder = checkpoint.rsplit("/", 1)[0]
    if not is_uri(folder):
        return Path(folder) if (Path(folder) / PLOT_DATA_FILE).is_file() else None
    for name in (PLOT_DATA_FILE, CHECKPOINT_HISTORY_FILE):
        if not exists(join(folder, name)):
            return None
        download(join(folder, name), scratch / name)
    return scratch
