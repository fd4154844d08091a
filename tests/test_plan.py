"""``python -m rayjob.tune --plan``: worst-case epochs from the scheduler itself, a measured epoch, no Ray."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from helpers import write_config

from rayjob.config import Config, load_config
from rayjob.sweep.plan import random_order_epochs, worst_case_epochs

QUICKSTART = Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"


def test_worst_case_epochs_follow_the_rungs_and_the_base_trial() -> None:
    cfg = load_config(QUICKSTART)  # 15 trials x 6 epochs, one rung at epoch 3, quorum 3
    # Base first (never stopped); the next trial waits on the rung and loses to the third: 3 epochs saved.
    assert worst_case_epochs(cfg) == 15 * 6 - 3
    # Without a base trial the first two wait and both lose to the third.
    assert worst_case_epochs(cfg.with_values({"search.include_base": False})) == 15 * 6 - 2 * 3
    assert worst_case_epochs(cfg.with_values({"search.scheduler": "fifo"})) == 15 * 6
    assert 15 * 3 <= random_order_epochs(cfg) < worst_case_epochs(cfg)


def test_plan_prints_the_figures_and_starts_nothing(tiny_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = tiny_config(search__space={"optim.lr": {"loguniform": [3e-4, 3e-3]}}, search__num_samples=4,
                      search__max_concurrent_trials=2, search__price_per_hour=2.0)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "rayjob.tune", "--config", write_config(cfg, tmp_path), "--plan"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "worst-case epochs  8 of 8" in out  # 2 epochs: the first rung would be the last epoch
    assert "concurrency        2 trials at a time: search.max_concurrent_trials" in out
    assert "one epoch" in out and "training steps of" in out
    assert "worst-case compute" in out and "per CPU-hour" in out
    assert not (Path(cfg.run.storage_path) / cfg.run.name).exists()  # nothing ran, nothing written
    assert "Ray" not in done.stderr


def test_epoch_seconds_without_plan_is_a_user_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rayjob.tune", "--epoch-seconds", "30", f"run.storage_path={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --epoch-seconds goes with --plan")
    assert len(done.stderr.strip().splitlines()) == 1
