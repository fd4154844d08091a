"""The function Ray Train workers run, importable without torch or Lightning.

Drivers hand ``train_worker`` to ``TorchTrainer``; Ray pickles it by reference, so the driver process
never imports the training stack: only the workers do, when they call it.
"""

from __future__ import annotations

from typing import Any


def train_worker(config: dict[str, Any], verbose: bool = True) -> None:
    from rayjob.training.loop import train_loop

    train_loop(config, verbose=verbose)
