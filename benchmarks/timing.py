"""Shared by the benchmark scripts: run a rayjob command in a fresh process and time it; the SE of a paired
difference."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(command: list[str]) -> tuple[subprocess.CompletedProcess, float] | None:
    """(finished process, wall seconds), or None after printing the output tail of a failed run."""
    finished = timed_lines(command)
    return None if finished is None else finished[:2]


def timed_lines(command: list[str]) -> tuple[subprocess.CompletedProcess, float, list[tuple[float, str]]] | None:
    """``timed_run`` that also gives when each stdout line arrived (seconds after launch), so a benchmark can
    tell apart the phases of one command: a line printed at a phase's end dates it."""
    arrivals: list[tuple[float, str]] = []
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT) as process:
            for line in process.stdout:
                arrivals.append((time.perf_counter() - started, line))
        wall = time.perf_counter() - started
        stderr.seek(0)
        errors = stderr.read()
    stdout = "".join(line for _, line in arrivals)
    if process.returncode != 0:
        print(stdout[-4000:], errors[-4000:], sep="\n")
        return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, errors), wall, arrivals


def paired_se(slower: list[float], faster: list[float]) -> float:
    """SE of the mean of the paired differences (runs of one round, or sweeps of one seed, are paired)."""
    differences = [s - f for s, f in zip(slower, faster, strict=True)]
    return statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
