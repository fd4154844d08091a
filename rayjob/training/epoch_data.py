"""Each epoch's plot data, written by rank 0 into the epoch's checkpoint folder.

The EMA model's confusion matrix on val, the metric history and 16 validation samples with their
predictions travel wherever the checkpoint is persisted (local, Tune trial folder, cloud storage), also
for trials ASHA stops without warning. The driver renders them as PNGs once, at the end
(``rayjob.outputs.run_plots``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rayjob.layout import CHECKPOINT_HISTORY_FILE, PLOT_DATA_FILE


def write_epoch_data(trainer: Any, module: Any, folder: Path, history: list[dict[str, float]]) -> None:
    """Confusion matrix, history and samples of this epoch as data files. Call on every rank (DDP sync)."""
    confusion = module.val_confusion.compute().cpu().numpy()
    if not trainer.is_global_zero:
        return
    (folder / CHECKPOINT_HISTORY_FILE).write_text(json.dumps(history, indent=1))
    arrays: dict[str, Any] = {"confusion": confusion, "classes": np.array(module.classes)}
    samples = shown_samples(module.val_mistakes, module.val_samples, len(module.val_samples[0]) if
                            module.val_samples is not None else 0)  # fmt: skip
    if samples is not None:
        images, true, predicted, confidence = samples
        mean = np.array(module.cfg.data.mean).reshape(1, 3, 1, 1)
        std = np.array(module.cfg.data.std).reshape(1, 3, 1, 1)
        pixels = np.clip(images * std + mean, 0, 1).transpose(0, 2, 3, 1)
        arrays.update(images=(pixels * 255).round().astype(np.uint8), true=true, predicted=predicted,
                      confidence=confidence)  # fmt: skip
    np.savez_compressed(folder / PLOT_DATA_FILE, **arrays)


def shown_samples(mistakes: Any, first: Any, count: int) -> tuple[np.ndarray, ...] | None:
    """(images, true, predicted, confidence) of ``count`` validation images: up to half of them the epoch's most
    confident mistakes (highest confidence first), then the first images of val that are not among them."""
    if first is None or count == 0:
        return None
    rows: list[tuple[np.ndarray, ...]] = []
    seen: set[int] = set()
    if mistakes is not None:
        images, true, predicted, confidence, index, score = (t.detach().float().cpu().numpy() for t in mistakes)
        for i in np.argsort(-score, kind="stable"):
            if score[i] >= 0 and len(rows) < count // 2:
                rows.append((images[i], true[i], predicted[i], confidence[i]))
                seen.add(int(index[i]))
    images, true, predicted, confidence, index = (t.detach().float().cpu().numpy() for t in first)
    for i in range(len(true)):
        if int(index[i]) not in seen and len(rows) < count:
            rows.append((images[i], true[i], predicted[i], confidence[i]))
    stacked = [np.stack([row[k] for row in rows]) for k in range(4)]
    return stacked[0], stacked[1].astype(np.int64), stacked[2].astype(np.int64), stacked[3]
