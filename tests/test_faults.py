"""Faults a long sweep meets, injected from outside the product: a worker process killed mid-epoch, a
trial process killed mid-trial, a trial whose loss diverges."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import KillWhen, checkpoint_epochs, registered_epochs, write_config

from rayjob.config import Config
from rayjob.results import read_records
from rayjob.train import main as train_main
from rayjob.tune import main as tune_main

SLOW = "resnet18"  # epochs of seconds, not tenths: the kill must land between two checkpoints


def test_killed_ray_train_worker_resumes_from_its_last_checkpoint(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(scaling__num_workers=1, run__max_failures=1, run__checkpoints_to_keep=10,
                      trainer__max_epochs=4, model__backbone=SLOW)  # fmt: skip
    run_dir = Path(cfg.run.storage_path) / cfg.run.name
    killer = KillWhen("RayTrainWorker", lambda: 1 <= len(registered_epochs(run_dir)) <= 2)
    killer.start()
    assert train_main(["--config", write_config(cfg, tmp_path)]) == 0
    killer.join(timeout=5)
    assert killer.killed is not None, f"the worker was never killed {killer.error}"
    # The restarted worker resumed from its last registered checkpoint instead of starting over: every
    # epoch is registered once, and at most the one epoch it was killed in was trained twice (its checkpoint
    # may have been written, not yet registered).
    assert registered_epochs(run_dir) == [1, 2, 3, 4]
    written = checkpoint_epochs(run_dir)
    assert set(written) == {1, 2, 3, 4} and len(written) <= 5
    best = next(line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("checkpoint "))
    newest = max(run_dir.glob("checkpoint_*/checkpoint.ckpt"), key=lambda p: p.stat().st_mtime)
    ckpt = torch.load(newest, weights_only=True)
    assert [h["epoch"] for h in ckpt["callbacks"]["ReportCheckpoint"]["history"]] == [1, 2, 3, 4]
    assert ckpt["global_step"] == 4 * 3 and Path(best).is_file()  # 4 epochs x 3 batches


def test_killed_in_process_trial_is_restarted_by_tune(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None
) -> None:
    cfg = tiny_config(search__space={"optim.lr": {"choice": [1e-3]}}, search__num_samples=1,
                      search__trial_max_failures=1, trainer__max_epochs=6, run__checkpoints_to_keep=10,
                      model__backbone=SLOW)  # fmt: skip
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    killer = KillWhen("ImplicitFunc", lambda: 1 <= len(checkpoint_epochs(experiment)) <= 4)
    killer.start()
    assert tune_main(["--config", write_config(cfg, tmp_path)]) == 0
    killer.join(timeout=5)
    assert killer.killed is not None, f"the trial process was never killed {killer.error}"
    (record,) = read_records(str(experiment))
    assert record.status == "COMPLETED" and record.epochs == 6 and None not in record.curve
    written = checkpoint_epochs(experiment)  # resumed from its last checkpoint: at most one epoch trained twice
    assert set(written) == set(range(1, 7)) and len(written) <= 7


def test_diverging_trial_is_recorded_and_the_sweep_goes_on(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(
        search__space={"optim.lr": {"choice": [1e-3, 1e30]}},
        search__points_to_evaluate=[{"optim.lr": 1e30}],
        search__num_samples=2,
        search__scheduler="fifo",
        trainer__max_epochs=2,
    )
    assert tune_main(["--config", write_config(cfg, tmp_path)]) == 0
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    records = {r.params["optim.lr"]: r for r in read_records(str(experiment))}
    assert records[1e30].status == "DIVERGED" and records[1e30].epochs == 1
    assert records[1e-3].status == "COMPLETED" and records[1e-3].is_base
    out = capsys.readouterr().out
    assert "1 diverged" in out and f"{records[1e30].trial_id} diverged at epoch 1" in out
    report = (experiment / "report.md").read_text()
    assert "1 diverged" in report and f"`{records[1e30].trial_id}` diverged" in report
    sidecar = json.loads((experiment / "export" / "model.json").read_text())
    assert sidecar["trial_id"] == records[1e-3].trial_id
