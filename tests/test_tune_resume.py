"""An interrupted sweep resumes: finished trials are kept, the rest run, num_samples in total.

The driver runs as a real process (with its own Ray in its own temp dir) and gets Ctrl-C (SIGINT)
after its first trial finished, as a user would do it.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rayjob.config import Config

SPACE = {"optim.lr": {"loguniform": [3e-4, 3e-3]}}


def start_driver(config_file: Path, temp_dir: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_TMPDIR": temp_dir, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "rayjob.tune", "--config", str(config_file), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the test can end it and all it started
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in time; output:\n{''.join(lines[-40:])}")


def finished_epochs(experiment: Path) -> dict[str, list[int]]:
    runs = {}
    for trial in sorted(experiment.glob("trial-*")):
        file = trial / "result.json"
        if file.is_file():
            runs[trial.name] = [json.loads(line)["epoch"] for line in file.read_text().splitlines()]
    return runs


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = tiny_config(
        search__space=SPACE,
        search__num_samples=3,
        search__scheduler="fifo",
        search__max_concurrent_trials=1,
    )
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(cfg.to_yaml())
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    temp_dir = tempfile.mkdtemp(prefix="rj")

    first = start_driver(config_file, temp_dir)
    try:
        wait_for_line(first, "completed after 2 iterations", timeout=240)
        first.send_signal(signal.SIGINT)
        output = first.communicate(timeout=120)[0]
    finally:
        stop(first)
    assert first.returncode == 130, output[-3000:]
    assert "--resume" in output
    before = finished_epochs(experiment)
    done_before = {name: epochs for name, epochs in before.items() if epochs == [1, 2]}
    assert 1 <= len(done_before) < 3

    second = start_driver(config_file, temp_dir, "--resume")
    try:
        output = second.communicate(timeout=300)[0]
    finally:
        stop(second)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert second.returncode == 0, output[-3000:]
    assert "resuming the sweep" in output

    after = finished_epochs(experiment)
    assert len(after) == 3
    for name, epochs in done_before.items():
        assert after[name] == epochs  # not rerun: still exactly one report per epoch
    for epochs in after.values():
        assert epochs[-1] == 2 and len(epochs) == len(set(epochs))
    with open(experiment / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(row["status"] == "COMPLETED" for row in rows)


@pytest.fixture(autouse=True)
def _no_ray_in_this_process() -> None:
    """The drivers above start their own Ray; none may run in the test process meanwhile."""
    import ray

    assert not ray.is_initialized()
