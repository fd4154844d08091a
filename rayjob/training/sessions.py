"""Where the training function reports metrics and checkpoints, and finds one to resume from.

``train_loop`` runs in three places, and each has its own way to persist an epoch:

- ``RayTrainSession``: a Ray Train worker under ``TorchTrainer`` (1..N workers, DDP). Ray persists
  checkpoints to the run's storage, keeps ``num_to_keep`` by score, and hands the latest back after a
  worker-group restart or a rerun with the same name.
- ``TuneSession``: in-process inside a Tune trial (``scaling.num_workers: 0``). Tune persists the
  checkpoint in the trial folder and hands it back on trial restore. No worker actor to start.
- ``LocalSession``: in-process, no Ray at all (``rayjob.train`` debugging). It writes the same
  ``checkpoint_NNNNNN/checkpoint.ckpt`` layout itself, keeps the best and the newest, and logs metrics.

Ray Train's own local mode (``num_workers=0``) keeps checkpoints only in memory and is refused inside
Tune trials, so in-process runs use the two sessions above instead.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import ray.train
import ray.tune

from rayjob.layout import CHECKPOINT_FILE, RUN_HISTORY_FILE, checkpoint_dir_name
from rayjob.runs import best_checkpoint
from rayjob.training.placement import this_node


class Session(Protocol):
    world_rank: int
    interactive: bool  # a person watches this process's terminal: progress bars make sense

    def resume_from(self) -> contextlib.AbstractContextManager[Path | None]:
        """A context giving the Lightning checkpoint file to resume from, or None."""
        ...

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        """Persist one epoch: its metrics and (on rank 0) a folder holding ``checkpoint.ckpt``."""
        ...


class RayTrainSession:
    interactive = False

    def __init__(self) -> None:
        self.world_rank = ray.train.get_context().get_world_rank()

    @contextlib.contextmanager
    def resume_from(self) -> Iterator[Path | None]:
        yield from _checkpoint_file(ray.train.get_checkpoint())

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)


class TuneSession:
    world_rank = 0
    interactive = False

    @contextlib.contextmanager
    def resume_from(self) -> Iterator[Path | None]:
        yield from _checkpoint_file(ray.tune.get_checkpoint())

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.tune.report({**metrics, "driver_node": this_node()}, checkpoint=checkpoint)


def _checkpoint_file(checkpoint: Any) -> Iterator[Path | None]:
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder) / CHECKPOINT_FILE


class LocalSession:
    """Persists epochs under ``run_dir`` without Ray; a rerun of the same folder resumes."""

    world_rank = 0

    def __init__(self, run_dir: Path, metric: str, mode: str, keep: int) -> None:
        self.interactive = sys.stdout.isatty()  # progress bars on a terminal only, never into a log file
        self.run_dir = run_dir
        self.metric = metric
        self.mode = mode
        self.keep = keep
        run_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def resume_from(self) -> Iterator[Path | None]:
        latest = self.latest_checkpoint()
        yield latest / CHECKPOINT_FILE if latest else None

    def latest_checkpoint(self) -> Path | None:
        folders = sorted(self.run_dir.glob("checkpoint_*"))
        complete = [f for f in folders if (f / CHECKPOINT_FILE).is_file()]
        return complete[-1] if complete else None

    def history(self) -> list[dict[str, Any]]:
        file = self.run_dir / RUN_HISTORY_FILE
        if not file.is_file():
            return []
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        if checkpoint_dir is not None:
            target = self.run_dir / checkpoint_dir_name(int(metrics.get("epoch", 0)))
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(checkpoint_dir), target)
        with open(self.run_dir / RUN_HISTORY_FILE, "a") as out:
            out.write(json.dumps(metrics) + "\n")
        self._prune()

    def best_checkpoint(self) -> tuple[Path, dict[str, Any]] | None:
        return best_checkpoint(self.run_dir, self.metric, self.mode)

    def _prune(self) -> None:
        """Keep the newest ``keep`` checkpoints plus the best one."""
        folders = sorted(self.run_dir.glob("checkpoint_*"))
        top = self.best_checkpoint()
        keep = set(folders[-self.keep :]) | ({top[0].parent} if top else set())
        for folder in folders:
            if folder not in keep:
                shutil.rmtree(folder, ignore_errors=True)
