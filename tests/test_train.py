"""The training function end to end: in-process runs, resume, the CLI, and 2 Ray Train workers."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from rayjob.config import Config
from rayjob.layout import CHECKPOINT_FILE, RUN_HISTORY_FILE
from rayjob.runs import resolve_paths
from rayjob.train import main

METRIC_KEYS = {"train/loss", "train/lr", "val/loss", "val/acc_top1", "val/acc_top5", "val/f1_macro", "epoch"}


def cli_args(cfg: Config, tmp_path: Path, *extra: str) -> list[str]:
    file = tmp_path / "config.yaml"
    file.write_text(cfg.to_yaml())
    return ["--config", str(file), *extra]


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / RUN_HISTORY_FILE).read_text().splitlines()]


def test_in_process_run_reports_every_epoch_and_resumes(
    tiny_config: Callable[..., Config], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config()
    assert main(cli_args(cfg, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "val/acc_top1 " in out.splitlines()[-1]
    run_dir = Path(cfg.run.storage_path) / "tiny"
    epochs = history(run_dir)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert set(epochs[0]) >= METRIC_KEYS
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == resolve_paths(cfg).to_dict()
    ckpt = torch.load(run_dir / "checkpoint_000002" / CHECKPOINT_FILE, weights_only=True)
    assert {"state_dict", "current_model_state", "averaging_state", "optimizer_states"} <= set(ckpt)
    assert ckpt["hyper_parameters"]["classes"] == ["blue", "green", "red"]

    # A rerun with one more epoch continues from epoch 2 instead of starting over.
    assert main(cli_args(cfg, tmp_path, "trainer.max_epochs=3")) == 0
    assert "resuming from" in capsys.readouterr().out
    assert [e["epoch"] for e in history(run_dir)] == [1, 2, 3]
    assert sorted(p.name for p in run_dir.glob("checkpoint_*"))[-1] == "checkpoint_000003"


def test_rerun_with_another_model_is_refused(tiny_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = tiny_config(trainer__max_epochs=1)
    assert main(cli_args(cfg, tmp_path)) == 0
    from rayjob.errors import ConfigError

    with pytest.raises(ConfigError, match=r"another config \(model.backbone: 'cnn_small' -> 'resnet34'\)"):
        main(cli_args(cfg, tmp_path, "model.backbone=resnet34"))


def test_quickstart_digits_learns(digits_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two epochs of the quickstart's config on the plain digits already beat chance (10%) by far."""
    args = [
        "--config",
        str(Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"),
        f"data.root={digits_root}",
        "trainer.max_epochs=2",
        "trainer.plots=false",
        "trainer.progress_bar=false",
        f"run.storage_path={tmp_path}",
    ]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("val/acc_top1 ") and float(last.split()[1]) > 0.5


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rayjob.train", *args], capture_output=True, text=True, timeout=120)


def test_cli_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    for args, message in [
        (["optim.lrr=1"], "unknown config key optim.lrr (did you mean optim.lr?)"),
        (["model.backbone=vgg99"], "unknown backbone 'vgg99'"),
        ([f"data.root={tmp_path / 'nothing'}"], "does not exist on node"),
    ]:
        done = run_cli(*args, f"run.storage_path={tmp_path}")
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == f"error: {done.stderr.strip()[7:]}" and message in done.stderr
        assert "Traceback" not in done.stderr


def test_cli_help_and_print_config() -> None:
    done = run_cli("--help")
    assert done.returncode == 0 and "KEY=VALUE" in done.stdout and "--config" in done.stdout
    done = run_cli("--print-config", "trainer.max_epochs=5")
    assert done.returncode == 0 and yaml.safe_load(done.stdout)["trainer"]["max_epochs"] == 5


def test_two_ray_train_workers_ddp_on_gloo(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(scaling__num_workers=2)
    assert main(cli_args(cfg, tmp_path)) == 0
    out = capsys.readouterr().out
    best = Path(next(line.split()[1] for line in out.splitlines() if line.startswith("checkpoint ")))
    assert {"state_dict", "current_model_state"} <= set(torch.load(best, weights_only=True))
    metrics = json.loads((best.parent / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["worker_nodes"].split(",")) == 2  # what really ran
    assert "world size   2 worker(s)" in out
    assert out.strip().splitlines()[-1].startswith("val/acc_top1 ")


def test_log_output_has_one_line_per_epoch_and_no_progress_bar(tiny_config: Callable[..., Config],
                                                               tmp_path: Path) -> None:  # fmt: skip
    cfg = tiny_config(trainer__progress_bar=True, trainer__max_epochs=3)
    done = run_cli(*cli_args(cfg, tmp_path))  # stdout is a pipe, as with `> run.log`
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\r" not in done.stdout + done.stderr and "\x1b[" not in done.stdout
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]


def test_a_run_cut_after_its_second_checkpoint_resumes_exactly(digits_root: Path, tmp_path: Path) -> None:
    """The rerun's epochs 3 and 4 equal the uninterrupted run's: same batches, augmentation and mixup draws."""
    import shutil

    args = ["--config", str(Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"),
            f"data.root={digits_root}", "trainer.max_epochs=4", "run.checkpoints_to_keep=4", "trainer.plots=false",
            "trainer.progress_bar=false", "data.augment.randaugment=9", "data.augment.mixup=0.2",
            "trainer.limit_train_batches=12", "trainer.limit_val_batches=4", "run.name=exact"]  # fmt: skip
    assert main([*args, f"run.storage_path={tmp_path / 'full'}"]) == 0
    cut = tmp_path / "cut" / "exact"
    shutil.copytree(tmp_path / "full" / "exact", cut)
    for epoch in (3, 4):  # as if the process died right after writing checkpoint 2
        shutil.rmtree(cut / f"checkpoint_{epoch:06d}")
    (cut / RUN_HISTORY_FILE).write_text("".join((cut / RUN_HISTORY_FILE).read_text().splitlines(True)[:2]))
    assert main([*args, f"run.storage_path={tmp_path / 'cut'}"]) == 0
    full, resumed = history(tmp_path / "full" / "exact"), history(cut)
    keys = ("train/loss", "val/loss", "val/acc_top1")
    assert [[round(e[k], 4) for k in keys] for e in resumed] == [[round(e[k], 4) for k in keys] for e in full]
