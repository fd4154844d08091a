"""The function Ray Train workers run, importable without torch or Lightning.

Drivers hand ``train_worker`` to ``TorchTrainer``; Ray pickles it by reference, so the driver process
never imports the training stack: only the workers do, when they call it.
"""

from __future__ import annotations

from typing import Any

from rayjob.console import show_run_progress


def train_worker(config: dict[str, Any], verbose: bool = True) -> None:
    """``verbose``: this worker shows its run's progress lines (``rayjob.train``), not a sweep trial's."""
    from rayjob.training.loop import train_loop

    show_run_progress(verbose)
    train_loop(config)
