"""Shared by the benchmark scripts: run a rayjob command in a fresh process and time it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(command: list[str]) -> tuple[subprocess.CompletedProcess, float] | None:
    """(finished process, wall seconds), or None after printing the output tail of a failed run."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        return None
    return done, wall
