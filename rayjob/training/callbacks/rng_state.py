"""The random state of every rank in each checkpoint, put back on resume: a resumed run continues exactly.

Lightning restores weights, optimizer, schedulers and loop counters from a checkpoint, not the random
generators. The next epoch's shuffle order (the sampler draws its seed from torch's global generator when
the DataLoader is iterated), every augmentation draw, DataLoader workers' seeds (drawn the same way) and
mixup's Beta draws all come from them, so without this a resumed run trains on other batches and its
curve differs from the uninterrupted one. Saved: torch (CPU and CUDA), numpy and Python's ``random``, per
rank. They are put back as the checkpoint is restored: on a resume Lightning creates the next epoch's
DataLoader iterator (the shuffle seed) right after that, where the uninterrupted run created it after the
save. With another number of workers than the checkpoint's the draws cannot be the same, and a line says so.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch

from rayjob.console import run_log


def capture() -> dict[str, Any]:
    """Tensors and plain values only: checkpoints are loaded with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                   "has_gauss": has_gauss, "gauss": gauss}  # fmt: skip
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class RngState(L.Callback):
    def __init__(self) -> None:
        self.trainer: L.Trainer | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        """Every rank's state (a collective: Lightning builds the checkpoint on every rank, rank 0 writes it)."""
        own = capture()
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return {"ranks": [own]}
        gathered: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, own)
        return {"ranks": gathered}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        ranks = state_dict.get("ranks") or []
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        if len(ranks) == world:
            restore(ranks[rank])
        elif rank == 0:
            written = len(ranks) or "an unknown number of"
            run_log.warning(f"resume is not exact: the checkpoint was written by {written} worker(s), this run has "
                            f"{world}; data order and augmentation draws differ from then on")  # fmt: skip
