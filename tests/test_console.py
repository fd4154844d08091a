"""The sweep console as a user sees it: in a log file (`ray job logs`, `> sweep.log`) and in a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from helpers import write_config

from rayjob.config import Config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def environment(ray_tmpdir: str) -> dict[str, str]:
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return env


def test_sweep_log_is_short_narrow_plain_and_ends_with_the_metric(
    tiny_config: Callable[..., Config], tmp_path: Path, ray_tmpdir: str
) -> None:
    space = {  # as many keys as the quickstart's space: the values must fit the width too
        "optim.lr": {"loguniform": [3e-4, 3e-3]},
        "ema.decay": {"choice": [0.9, 0.99]},
        "optim.weight_decay": {"loguniform": [1e-3, 1e-1]},
        "loss.label_smoothing": {"uniform": [0.0, 0.15]},
        "data.augment": {"choice": ["none", "basic"]},
        "data.random_erasing": {"uniform": [0.0, 0.25]},
    }
    cfg = tiny_config(search__space=space, search__num_samples=10, trainer__max_epochs=3,
                      run__storage_path=f"{ray_tmpdir}/results")  # short, like the quickstart's  # fmt: skip
    log = tmp_path / "sweep.log"
    command = [sys.executable, "-m", "rayjob.tune", "--config", write_config(cfg, tmp_path)]
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=environment(ray_tmpdir), timeout=600)
    lines = log.read_text().splitlines()
    assert done.returncode == 0, "\n".join(lines[-40:])
    assert len(lines) <= 80, "\n".join(lines)
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)
    assert not ANSI.search(log.read_text()) and "\r" not in log.read_text()
    assert re.fullmatch(r"val/acc_top1 \d\.\d{4}", lines[-1])
    assert lines[0].startswith("sweep tiny: 10 trials x up to 3 epochs")
    assert sum(" started" in line for line in lines) == 10 and sum("(base config)" in line for line in lines) == 1
    ended = r" (completed 3 epochs|stopped by the scheduler at epoch \d), best val/acc_top1 \d\.\d{4}$"
    assert sum(re.search(ended, line) is not None for line in lines) == 10


def test_progress_line_is_redrawn_in_place_on_a_terminal(
    tiny_config: Callable[..., Config], tmp_path: Path, ray_tmpdir: str
) -> None:
    cfg = tiny_config(search__space={"optim.lr": {"loguniform": [3e-4, 3e-3]}}, search__num_samples=2,
                      trainer__max_epochs=2)  # fmt: skip
    command = [sys.executable, "-m", "rayjob.tune", "--config", write_config(cfg, tmp_path)]
    leader, follower = pty.openpty()
    # a terminal of 24 x 100, as a real one reports (tqdm draws nothing on a terminal of 0 rows)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=environment(ray_tmpdir))
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the sweep ended
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=60) == 0, output.decode(errors="replace")[-3000:]
    text = output.decode(errors="replace")
    redraws = [part for part in text.split("\r") if "trials |" in part]
    assert len(redraws) >= 2, text[-3000:]  # the bar was drawn, then redrawn over itself
    assert re.search(r"\d+/2 trials \|.*\| \d+ epochs/4 max, best", text), redraws[-3:]
