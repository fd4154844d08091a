"""An interrupted sweep resumes: finished trials are kept, the rest run, num_samples in total.

The driver runs as a real process with its own Ray in its own temp dir. First it is killed outright
(SIGKILL to it and every process it started: a dead machine), then the resumed driver gets Ctrl-C
(SIGINT), as a user would press it; the last run finishes the sweep and runs the post-hook once.
"""

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
from typing import Any

import pytest
from helpers import load_study

from rayjob.config import Config
from rayjob.results import read_records

SPACE = {"optim.lr": {"loguniform": [3e-4, 3e-3]}}
SLOW = "resnet18"  # epochs of seconds, not tenths: each kill or Ctrl-C must land before the next trial ends


def start_driver(
    config_file: Path, temp_dir: str, *extra: str, save_every_s: str = "auto", output: Any = subprocess.PIPE
) -> subprocess.Popen:
    """``save_every_s``: Tune's experiment-state period (auto: at least 10 s); ``output``: where its output goes."""
    env = {**os.environ, "RAY_TMPDIR": temp_dir, "PYTHONUNBUFFERED": "1", "TUNE_GLOBAL_CHECKPOINT_S": save_every_s}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "rayjob.tune", "--config", str(config_file), *extra],
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the test can end it and all it started
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_to_end(config_file: Path, temp_dir: str, *extra: str) -> str:
    """A driver run to its end, which must succeed; its output."""
    driver = start_driver(config_file, temp_dir, *extra)
    try:
        output = driver.communicate(timeout=300)[0]
    finally:
        stop(driver)
    assert driver.returncode == 0, output[-3000:]
    return output


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float, ignore: tuple[str, ...] = ()) -> list[str]:
    """Read output until a line holds ``needle`` and none of ``ignore``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line and not any(word in line for word in ignore):
            return lines
    raise AssertionError(f"{needle!r} not seen in time; output:\n{''.join(lines[-40:])}")


def reports(experiment: Path) -> dict[str, list[dict]]:
    """Each trial's Tune results (its result.json), by trial id."""
    files = {trial.name.removeprefix("trial-"): trial / "result.json" for trial in sorted(experiment.glob("trial-*"))}
    return {name: [json.loads(line) for line in f.read_text().splitlines()] for name, f in files.items() if f.is_file()}


def finished_epochs(experiment: Path) -> dict[str, list[int]]:
    return {f"trial-{name}": [r["epoch"] for r in results] for name, results in reports(experiment).items()}


def wait_until_saved(experiment: Path, trial_id: str, timeout: float, status: str = "TERMINATED") -> None:
    """Until Tune's newest experiment-state file records ``trial_id`` with ``status``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in sorted(experiment.glob("experiment_state-*.json"))[-1:]:
            try:
                trials = [json.loads(t[0]) for t in json.loads(state.read_text())["trial_data"]]
            except (OSError, ValueError, KeyError):
                continue  # being rewritten
            if any(t["trial_id"] == trial_id and t.get("status") == status for t in trials):
                return
        time.sleep(0.2)
    raise AssertionError(f"Tune never saved trial {trial_id} as {status}")


def completed_trials(experiment: Path) -> dict[str, list[int]]:
    return {name: epochs for name, epochs in finished_epochs(experiment).items() if epochs == [1, 2]}


def test_killed_then_interrupted_sweep_resumes_to_exactly_num_samples(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = tiny_config(
        search__space=SPACE,
        search__num_samples=4,
        search__scheduler="fifo",
        search__max_concurrent_trials=1,
        model__backbone=SLOW,
    )
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(cfg.to_yaml())
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    temp_dir = tempfile.mkdtemp(prefix="rj")
    try:
        # 1. The driver dies (kill -9 of its whole process group) after the first trial finished.
        first = start_driver(config_file, temp_dir)
        try:
            lines = wait_for_line(first, "completed 2 epochs", timeout=240)
            # Tune writes its experiment state every few seconds: kill once it holds the trial as ended (a
            # driver killed inside that window makes the resumed sweep redo the trial's last epoch).
            wait_until_saved(experiment, lines[-1].split()[0], timeout=60)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=60)
        finally:
            stop(first)
        done_first = completed_trials(experiment)
        assert len(done_first) >= 1 and not (experiment / "report.md").exists()

        # 2. Resumed, then Ctrl-C after one more trial: a clean stop that says how to resume.
        second = start_driver(config_file, temp_dir, "--resume")
        try:
            old = tuple(name.removeprefix("trial-") for name in done_first)
            lines = wait_for_line(second, "completed 2 epochs", timeout=240, ignore=old)
            second.send_signal(signal.SIGINT)
            output = "".join(lines) + second.communicate(timeout=120)[0]
        finally:
            stop(second)
        assert "resuming the sweep" in output
        assert second.returncode == 130, output[-3000:]
        assert "--resume" in output and not (experiment / "report.md").exists()
        done_second = completed_trials(experiment)
        assert len(done_first) < len(done_second) < 4

        # 3. Resumed again: it finishes with exactly num_samples trials and runs the post-hook once.
        third = start_driver(config_file, temp_dir, "--resume")
        try:
            output = third.communicate(timeout=300)[0]
        finally:
            stop(third)
        assert third.returncode == 0, output[-3000:]
        assert output.count("report         ") == 1 and (experiment / "report.md").is_file()
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)

    after = finished_epochs(experiment)
    assert len(after) == 4
    for name, epochs in done_second.items():
        assert after[name] == epochs  # finished trials were not rerun: one report per epoch
    for epochs in after.values():
        assert epochs == [1, 2]  # resumed trials continued: no gap, no repeated epoch
    records = read_records(str(experiment))
    assert len(records) == 4 and all(r.status == "COMPLETED" for r in records)

    # The searcher went on with its history: one Optuna study across the three drivers (the file
    # `optuna-dashboard` reads), holding every finished trial, so TPE did not start its random phase again.
    import optuna

    study = load_study(experiment)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    assert sorted(t.params["optim.lr"] for t in complete) == sorted(r.params["optim.lr"] for r in records)


def test_a_trial_paused_on_its_rung_when_the_sweep_is_killed_is_ranked_on_resume_without_training_again(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    """ASHA with a quorum of 3 and one slot: the first two trials pause at the epoch-1 rung, the third ranks them.
    The driver dies (SIGKILL, whole tree) with the first one paused; the resumed sweep must keep it waiting
    (Tune hands it back as PENDING) and rank it once the rung holds 3 results: no second epoch 1, and no
    epoch 2 before the rung ranked it."""
    cfg = tiny_config(
        search__space=SPACE,
        search__num_samples=3,
        optim__warmup_epochs=0,
        search__include_base=False,  # every trial can pause: the kill cannot race a ranking
        search__scheduler="asha",
        search__grace_period=1,
        search__reduction_factor=3,
        search__max_concurrent_trials=1,
        run__wandb="offline",
        model__backbone=SLOW,
    )
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(cfg.to_yaml())
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    temp_dir = tempfile.mkdtemp(prefix="rj")
    try:
        first = start_driver(config_file, temp_dir, save_every_s="1")  # tiny trials pause for seconds only
        try:
            lines = wait_for_line(first, "paused at epoch 1", timeout=240)
            paused = lines[-1].split()[0]
            wait_until_saved(experiment, paused, timeout=60, status="PAUSED")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=60)
        finally:
            stop(first)
        waiting = json.loads((experiment / "scheduler" / "state.json").read_text())["waiting"]
        assert paused in waiting and [r["epoch"] for r in reports(experiment)[paused]] == [1]

        run_to_end(config_file, temp_dir, "--resume")
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)

    runs = reports(experiment)
    assert len(runs) == 3
    epochs = {trial_id: [r["epoch"] for r in results] for trial_id, results in runs.items()}
    assert all(e in ([1], [1, 2]) for e in epochs.values()), epochs  # no epoch twice, none skipped
    rung_full = max(results[0]["timestamp"] for results in runs.values())  # the rung's 3rd result
    if epochs[paused] == [1, 2]:  # ranked in the top: it went on only after the rung could rank it
        assert runs[paused][1]["timestamp"] >= rung_full, epochs
    assert any(e == [1, 2] for e in epochs.values())  # the rung's top went on

    # W&B: each driver writes an offline run per trial it ran, named by the trial id (Tune's callback uses it as
    # the run id, with resume="allow"): the resumed sweep continues the paused trial's run, under the same id.
    runs_by_id: dict[str, int] = {}
    for folder in (experiment / "wandb").glob("offline-run-*"):
        run_id = folder.name.rsplit("-", 1)[-1]
        runs_by_id[run_id] = runs_by_id.get(run_id, 0) + 1
    assert set(runs_by_id) == set(runs)  # no run under any other id: no duplicate
    assert runs_by_id[paused] == 2  # before the kill, and after the resume


def val_curve(experiment: Path) -> list[float]:
    """The one trial's val loss by epoch (a redone epoch counts once: its last report)."""
    ((_, results),) = reports(experiment).items()
    by_epoch = {r["epoch"]: r["val/loss"] for r in results}
    return [round(by_epoch[e], 4) for e in sorted(by_epoch)]


def wait_until_saved_checkpoint(experiment: Path, names: list[str], driver: subprocess.Popen, timeout: float) -> None:
    """Until Tune's newest experiment-state file names one of checkpoints ``names`` (so a restore starts there).
    Tune writes that file every second or so: a fast epoch may come and go between two of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        states = sorted(experiment.glob("experiment_state-*.json"))
        text = states[-1].read_text(errors="replace") if states else ""
        if any(name in text for name in names):
            return
        time.sleep(0.1)
    raise AssertionError(f"Tune never saved one of {names} before the sweep ended or {timeout} s passed")


def test_a_sweep_trial_resumed_from_its_checkpoint_has_the_uninterrupted_curve(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    """Random augmentation and mixup draw from the RNGs every step: only a restored RNG state repeats them."""
    settings = dict(
        data__augment={"crop_scale": 0.6, "randaugment": 9, "mixup": 0.2},
        trainer__max_epochs=8,
        search__space=SPACE,
        search__num_samples=1,  # the base trial alone
        search__scheduler="fifo",
        model__backbone=SLOW,
    )
    files = {}
    for name in ("whole", "cut"):
        cfg = tiny_config(run__name=name, **settings)
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(cfg.to_yaml())
    results = Path(cfg.run.storage_path)
    temp_dir, whole_temp_dir = tempfile.mkdtemp(prefix="rj"), tempfile.mkdtemp(prefix="rj")
    # The uninterrupted run goes alongside the cut one (its own Ray): its curve does not depend on timing.
    with open(tmp_path / "whole.log", "w") as log:
        whole = start_driver(files["whole"], whole_temp_dir, output=log)
    try:
        cut = start_driver(files["cut"], temp_dir, save_every_s="1")
        try:
            middle = [f"checkpoint_{epoch - 1:06d}" for epoch in range(2, 7)]  # epochs 2-6 of 8
            wait_until_saved_checkpoint(results / "cut", middle, cut, timeout=240)
            os.killpg(cut.pid, signal.SIGKILL)
            cut.wait(timeout=60)
        finally:
            stop(cut)
        assert max(finished_epochs(results / "cut")["trial-" + next(iter(reports(results / "cut")))]) < 8
        run_to_end(files["cut"], temp_dir, "--resume")
        whole.wait(timeout=300)
    finally:
        stop(whole)
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(whole_temp_dir, ignore_errors=True)
    assert whole.returncode == 0, (tmp_path / "whole.log").read_text()[-3000:]
    assert len(val_curve(results / "whole")) == 8
    assert val_curve(results / "cut") == val_curve(results / "whole")


@pytest.fixture(autouse=True)
def _no_ray_in_this_process() -> None:
    """The drivers above start their own Ray; none may run in the test process meanwhile."""
    import ray

    assert not ray.is_initialized()
