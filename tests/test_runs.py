"""Run folders: the resume allow-list, checkpoint pruning, and the LR schedule of a run."""

import json
from pathlib import Path

import pytest

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.model.lr_schedule import WarmupCosine
from rayjob.runs import RESUMABLE_CHANGES, check_same_config, config_changes, write_run_config
from rayjob.training.sessions import LocalSession


def test_resume_allows_only_changes_that_leave_model_and_data_alone(tmp_path: Path) -> None:
    old = Config()
    assert config_changes(old, old.with_values({"trainer.max_epochs": 20, "data.num_workers": 4})) == []
    assert config_changes(old, old.with_values({"optim.lr": 3e-4, "data.image_size": 64})) == [
        "data.image_size", "optim.lr"]  # fmt: skip
    assert "model.backbone" not in RESUMABLE_CHANGES and "trainer.max_epochs" in RESUMABLE_CHANGES
    write_run_config(old, str(tmp_path))
    check_same_config(old.with_values({"trainer.max_epochs": 20}), str(tmp_path))
    with pytest.raises(ConfigError, match=r"another config \(model.backbone: 'resnet18' -> 'resnet34'\)"):
        check_same_config(old.with_values({"model.backbone": "resnet34"}), str(tmp_path))


def report_epoch(session: LocalSession, tmp_path: Path, epoch: int, accuracy: float) -> None:
    staging = tmp_path / f"staging-{epoch}"
    staging.mkdir()
    (staging / "checkpoint.ckpt").write_bytes(b"weights")
    metrics = {"epoch": epoch, "val/acc_top1": accuracy}
    (staging / "metrics.json").write_text(json.dumps(metrics))
    session.report(metrics, staging)


def test_pruning_keeps_the_newest_and_the_best_checkpoint(tmp_path: Path) -> None:
    session = LocalSession(tmp_path / "run", "val/acc_top1", "max", keep=2)
    for epoch, accuracy in enumerate([0.5, 0.9, 0.6, 0.7, 0.65], start=1):
        report_epoch(session, tmp_path, epoch, accuracy)
    kept = sorted(p.name for p in (tmp_path / "run").glob("checkpoint_*"))
    assert kept == ["checkpoint_000002", "checkpoint_000004", "checkpoint_000005"]  # best (2) + newest two
    best = session.best_checkpoint()
    assert best is not None and best[0].parent.name == "checkpoint_000002" and best[1]["val/acc_top1"] == 0.9
    assert session.latest_checkpoint().name == "checkpoint_000005"
    assert [h["epoch"] for h in session.history()] == [1, 2, 3, 4, 5]


def test_warmup_then_cosine_schedule() -> None:
    schedule = WarmupCosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [schedule(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]  # linear warmup to the full LR
    assert schedule(4) == pytest.approx(1.0)
    assert schedule(9) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the cosine
    assert schedule(14) == pytest.approx(0.1) and schedule(100) == pytest.approx(0.1)  # floor, never below
    assert all(schedule(s) >= schedule(s + 1) for s in range(4, 20))
    assert WarmupCosine(warmup_steps=0, total_steps=1, min_ratio=0.0)(0) == 1.0
