"""Faults a long sweep meets: a worker killed mid-epoch, a trial whose loss diverges."""

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rayjob.config import Config
from rayjob.faults import fault_marker
from rayjob.train import main as train_main
from rayjob.tune import main as tune_main


def write(cfg: Config, tmp_path: Path) -> str:
    file = tmp_path / "config.yaml"
    file.write_text(cfg.to_yaml())
    return str(file)


def test_killed_ray_train_worker_resumes_from_its_last_checkpoint(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(
        scaling__num_workers=1, run__max_failures=1, trainer__fault_kill_at_epoch=2, trainer__max_epochs=3
    )
    assert train_main(["--config", write(cfg, tmp_path)]) == 0
    assert fault_marker(cfg).is_file()  # the worker really was killed in epoch 2
    out = capsys.readouterr().out
    best = next(line.split()[1] for line in out.splitlines() if line.startswith("checkpoint "))
    run_dir = Path(best).parent.parent
    folders = [p for p in run_dir.glob("checkpoint_*") if (p / "checkpoint.ckpt").is_file()]
    newest = max(folders, key=lambda p: p.stat().st_mtime)
    ckpt = torch.load(newest / "checkpoint.ckpt", weights_only=True)
    history = ckpt["callbacks"]["ReportCheckpoint"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]  # no gap, nothing reported twice
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 3 * 3  # 3 epochs x 3 batches, after the restart


def test_killed_in_process_trial_is_restarted_by_tune(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None
) -> None:
    cfg = tiny_config(
        search__space={"optim.lr": {"choice": [1e-3]}},
        search__num_samples=1,
        search__trial_max_failures=1,
        trainer__fault_kill_at_epoch=2,
        trainer__max_epochs=3,
    )
    assert tune_main(["--config", write(cfg, tmp_path)]) == 0
    assert fault_marker(cfg).is_file()
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    with open(experiment / "trials.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "COMPLETED" and row["epochs"] == "3"
    import json

    results = (experiment / f"trial-{row['trial_id']}" / "result.json").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in results] == [1, 2, 3]


def test_diverging_trial_is_recorded_and_the_sweep_goes_on(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(
        search__space={"optim.lr": {"choice": [1e-3, 1e30]}},
        search__points_to_evaluate=[{"optim.lr": 1e-3}, {"optim.lr": 1e30}],
        search__num_samples=2,
        search__scheduler="fifo",
        trainer__max_epochs=2,
    )
    assert tune_main(["--config", write(cfg, tmp_path)]) == 0
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    with open(experiment / "trials.csv") as f:
        rows = {float(r["optim.lr"]): r for r in csv.DictReader(f)}
    assert rows[1e30]["status"] == "DIVERGED" and rows[1e30]["epochs"] == "1"
    assert rows[1e-3]["status"] == "COMPLETED"
    assert "1 diverged" in capsys.readouterr().out
    report = (experiment / "report.md").read_text()
    assert "1 diverged" in report and f"`{rows[1e30]['trial_id']}` diverged" in report
