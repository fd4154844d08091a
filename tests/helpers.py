"""Helpers the tests share: tiny image folders, free ports, config files (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rayjob.config import Config


def write_image(path: Path, color: tuple[int, int, int], size: int = 12, mode: str = "RGB") -> None:
    """A flat-colored image with a little noise, so classes are learnable but not identical."""
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    arr = np.clip(np.array(color, dtype=np.float64) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode="RGB").convert(mode).save(path)


def make_image_folder(root: Path, classes: dict[str, tuple[int, int, int]], per_split: dict[str, int]) -> Path:
    for split, count in per_split.items():
        for name, color in classes.items():
            for i in range(count):
                write_image(root / split / name / f"{name}_{i}.png", color)
    return root


def write_config(cfg: Config, folder: Path, name: str = "config.yaml") -> str:
    """The config as a YAML file a CLI can read; returns its path."""
    file = folder / name
    file.write_text(cfg.to_yaml())
    return str(file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KillWhen(threading.Thread):
    """Kill (SIGKILL) the process of a Ray actor of ``class_name`` once ``ready()`` holds: a fault from outside.

    The actor is found among this test's own descendant processes (Ray's workers run as ``ray::<Class>...``),
    so only a process the test started can be hit, and no dashboard query sits between ``ready`` and the kill.
    ``killed`` holds the pid that was killed (None if the moment never came within ``timeout``).
    """

    def __init__(self, class_name: str, ready: Callable[[], bool], timeout: float = 240.0) -> None:
        super().__init__(daemon=True)
        self.class_name, self.ready, self.timeout = class_name, ready, timeout
        self.killed: int | None = None
        self.error = ""  # what was seen when nothing was killed, for the test's message

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.ready():
                pids = [pid for pid, command in descendants().items() if command.startswith(f"ray::{self.class_name}")]
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed = pids[0]
                    return
                self.error = f"ready, but no ray::{self.class_name} process among {sorted(descendants().values())}"
            time.sleep(0.05)


def descendants(root: int | None = None) -> dict[int, str]:
    """{pid: command line} of every live process below ``root`` (this process), read from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    found, frontier = {}, [root or os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, "")
                frontier.append(pid)
    return found


def checkpoint_epochs(folder: Path) -> list[int]:
    """The epoch of every checkpoint folder kept under ``folder``, from the metrics saved with it."""
    files = folder.rglob("checkpoint_*/metrics.json")
    return sorted(int(json.loads(f.read_text())["epoch"]) for f in files)


def registered_epochs(train_run: Path) -> list[int]:
    """Epochs whose checkpoints Ray Train has registered (``checkpoint_manager_snapshot.json``): a kill
    after this never lands inside that checkpoint's upload."""
    epochs = []
    for snapshot in train_run.rglob("checkpoint_manager_snapshot.json"):
        with contextlib.suppress(ValueError):
            results = json.loads(snapshot.read_text())["checkpoint_results"]
            epochs += [int(r["metrics"]["epoch"]) for r in results]
    return sorted(epochs)


def load_study(experiment: Path) -> Any:
    """The Optuna study a local sweep keeps in its journal file (what ``optuna-dashboard`` reads)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(experiment / "optuna_journal.log")))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)
