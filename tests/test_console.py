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
        "data.augment.crop_scale": {"choice": [0.6, 1.0]},
        "data.augment.random_erasing": {"uniform": [0.0, 0.25]},
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
    # 24 images in batches of 8 for 3 epochs: the run is too short to learn, and the log says so before it starts
    assert lines[0].startswith("warning: 3 epochs of 24 training images in batches of 8 make only 9 optimizer steps")
    header = next(i for i, line in enumerate(lines) if line.startswith("sweep tiny: 10 trials x up to 3 epochs"))
    assert all(line.startswith(("warning: ", "         ")) for line in lines[:header])
    # In-process trials: the local Ray runs no dashboard (its CPU would be the trials'), and the header says so.
    assert any(line.startswith("  ray      local, no dashboard") for line in lines[header : header + 8]), lines[:12]
    assert list(Path(ray_tmpdir).rglob("raylet.out")) and not list(Path(ray_tmpdir).rglob("dashboard_StateHead.log"))
    started = [line for line in lines if " started" in line]
    assert len(started) == 10 and sum("(base config)" in line for line in started) == 1
    assert all(re.search(r"(=\S+| \.\.\.)$", line) for line in started), started  # no value cut in two
    ended = r" (completed 3 epochs|stopped by the scheduler at epoch \d), val/acc_top1 \d\.\d{4}$"
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


WORKER_ENDED_BY_SIGTERM = """
import os, signal, sys, threading, time
import ray
from rayjob.ray_cluster import init_ray

@ray.remote
class Trial:
    def finish(self):
        from rayjob.library_logs import quiet_libraries
        quiet_libraries()  # as every rayjob trial and worker does first
        print("trial says hello", flush=True)
        print("WARNING: a real warning", file=sys.stderr, flush=True)
        threading.Thread(target=time.sleep, args=(3,)).start()  # the exit waits for it...
        killer = lambda: (time.sleep(1), os.kill(os.getpid(), signal.SIGTERM))  # ...and Ray's SIGTERM comes
        threading.Thread(target=killer, daemon=True).start()
        ray.actor.exit_actor()

init_ray(num_cpus=1)
try:
    ray.get(Trial.remote().finish.remote())
except ray.exceptions.ActorDiedError:
    pass
time.sleep(6)  # the worker's last lines reach the driver
print("driver done")
"""


def test_worker_output_is_shown_but_not_the_traceback_of_a_sigterm_from_ray(tmp_path: Path, ray_tmpdir: str) -> None:
    # A stopped trial's process that is slow to exit gets Ray's SIGTERM, and Python prints the SystemExit
    # as "Exception ignored in <module 'threading'>" with a 135-column path: seen in a CI sweep log.
    script = tmp_path / "driver.py"
    script.write_text(WORKER_ENDED_BY_SIGTERM)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=environment(ray_tmpdir),
                          timeout=300)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "trial says hello" in output and "WARNING: a real warning" in output
    assert "Traceback" not in output and "SystemExit" not in output and "sigterm_handler" not in output, output
    assert "driver done" in output


def test_rays_notices_about_its_own_machinery_are_dropped_but_other_lines_stay() -> None:
    """Lines Ray logs in its processes before rayjob's code runs there (real ones, shortened at the ends), as Ray
    forwards them to the driver's stream: in pieces, with its prefix."""
    import io

    from rayjob.worker_output import WithoutRayNotices

    notices = [
        "(ImplicitFunc pid=812) Restored on 192.0.2.2 from checkpoint: Checkpoint(filesystem=local, path=/tmp/r/q/ch)",
        "(TrainController pid=90) [2026-11-24 10:48:09,960 E 12441 12500] core_worker.cc:2465: Actor with class "
        "name: 'PreemptionWatcher' and ID: '67cf309a' has constructor arguments in the object store and max_re",
        "(PlacementGroupCleaner pid=91) Detected that the Ray Train controller actor (0f60b46e7f4f) is dead. Cle",
    ]
    kept = ["(ImplicitFunc pid=812) epoch 2", "warning: Restored weights look odd", "ERROR: the controller is dead"]
    shown = io.StringIO()
    stream = WithoutRayNotices(shown)
    for line in [kept[0], *notices, *kept[1:]]:
        stream.write(line[:20])  # print() writes the text, then the line end
        stream.write(line[20:])
        stream.write("\n")
    stream.write("  3/8 trials |###   |\r")  # a progress bar redrawn in place shows at once
    assert shown.getvalue() == "".join(line + "\n" for line in kept) + "  3/8 trials |###   |\r"
    stream.write("no line end yet")
    assert shown.getvalue().endswith("\r")
    stream.flush()
    assert shown.getvalue().endswith("\rno line end yet")


def test_the_known_gpu_worker_warnings_are_filtered_and_others_are_not() -> None:
    """The warnings a GPU sweep's workers printed (../shared/GPU_NOTES.md), raised as torch raises them, in a
    fresh process that sets rayjob's filters as a trial process does."""
    script = """
import warnings
from rayjob.library_logs import quiet_libraries
quiet_libraries(ray_info=False)
for message in [
    "barrier(): using the device under current context. You can specify `device_id` in `init_process_group` "
    "to mute this warning.",
    "The AccumulateGrad node's stream does not match the stream of the node that produced the incoming "
    "gradient. This may incur unnecessary synchronization (...)",
    "a warning nobody filtered",
]:
    warnings.warn(message, UserWarning, stacklevel=1)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stderr.splitlines() if "Warning" in line]
    assert len(shown) == 1 and "a warning nobody filtered" in shown[0]


def test_tunes_temp_file_race_is_one_line_and_other_errors_are_untouched() -> None:
    import logging

    from rayjob.sweep.tune_logs import TempFileRaceFilter

    def record(error: Exception) -> logging.LogRecord:
        return logging.LogRecord("ray.tune.execution.experiment_state", logging.ERROR, "x.py", 1,
                                 "Saving experiment state to storage at '%s' failed with exception: ", ("/r",),
                                 (type(error), error, None))  # fmt: skip

    race = record(FileNotFoundError("[Errno 2] Failed to open local file '/t/driver_artifacts/.0b-tmp-searcher-state'"))
    assert TempFileRaceFilter().filter(race) and race.levelno == logging.WARNING and race.exc_info is None
    assert len(race.getMessage()) < 100 and "next save" in race.getMessage()
    other = record(PermissionError("denied"))
    assert TempFileRaceFilter().filter(other) and other.levelno == logging.ERROR and other.exc_info is not None
