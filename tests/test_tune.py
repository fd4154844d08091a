"""The sweep: Optuna + ASHA over the training function, in-process and TorchTrainer trials."""

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.space import check_space
from rayjob.tune import main

SPACE = {"model.backbone": {"choice": ["resnet18", "mobilenet_v3_small"]}, "optim.lr": {"loguniform": [3e-4, 3e-3]}}


def sweep_config(tiny_config: Callable[..., Config], **overrides: object) -> Config:
    settings: dict[str, object] = {"search__space": SPACE, "search__num_samples": 3, "search__grace_period": 1}
    return tiny_config(**{**settings, **overrides})


def write(cfg: Config, tmp_path: Path) -> str:
    file = tmp_path / "sweep.yaml"
    file.write_text(cfg.to_yaml())
    return str(file)


def read_trials(cfg: Config) -> list[dict[str, str]]:
    with open(Path(cfg.run.storage_path) / cfg.run.name / "trials.csv") as f:
        return list(csv.DictReader(f))


def reported_epochs(trial_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (trial_dir / "result.json").read_text().splitlines()]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"optim.lrr": {"choice": [1]}}, "optim.lrr is not a config key"),
        ({"optim.lr": {"normal": [0, 1]}}, "unknown distribution 'normal'"),
        ({"optim.lr": {"choice": []}}, "choice needs a non-empty list"),
        ({"optim.lr": {"loguniform": [0, 1]}}, "loguniform bounds must be positive"),
        ({"model.backbone": {"choice": ["resnet18", "vgg99"]}}, r"value 'vgg99' is not valid: unknown backbone"),
        ({"data.augment": {"choice": ["none", "heavy"]}}, r"value 'heavy' is not valid"),
        ({"run.name": {"choice": ["a", "b"]}}, "cannot be searched"),
        ({"optim.lr": 0.1}, "must name one distribution"),
    ],
)
def test_bad_space_entries_fail_before_ray(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_space(Config.from_dict({"search": {"space": space}}))


def test_points_to_evaluate_must_cover_the_space() -> None:
    cfg = Config.from_dict({"search": {"space": SPACE, "points_to_evaluate": [{"optim.lr": 1e-3}]}})
    with pytest.raises(ConfigError, match=r"points_to_evaluate\[0\] must set every searched key; missing model"):
        check_space(cfg)


def test_tiny_sweep_runs_trials_reports_every_epoch_and_writes_results(
    tiny_config: Callable[..., Config],
    tmp_path: Path,
    local_ray: None,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "rayjob-test-secret-0123456789abcdef"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    cfg = sweep_config(tiny_config, run__wandb="offline")
    assert main(["--config", write(cfg, tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("val/acc_top1 ")

    rows = read_trials(cfg)
    assert len(rows) == 3
    experiment = Path(cfg.run.storage_path) / cfg.run.name
    for row in rows:
        assert row["status"] in ("COMPLETED", "STOPPED") and row["model.backbone"] in ("resnet18", "mobilenet_v3_small")
        epochs = reported_epochs(experiment / f"trial-{row['trial_id']}")
        assert epochs == list(range(1, int(row["epochs"]) + 1))  # ASHA saw every epoch, in order
        assert (row["status"] == "COMPLETED") == (epochs[-1] == 2)
    best = max(rows, key=lambda r: float(r["best"]))
    assert Path(best["checkpoint"]).is_file()
    assert float(out[-1].split()[1]) == pytest.approx(float(best["best"]))
    assert (experiment / "config.yaml").is_file()

    # The post-hook: per-trial plots, a verified ONNX of the best trial, the report and its figures.
    assert (experiment / "export" / "model.onnx").is_file() and (experiment / "export" / "model.json").is_file()
    for row in rows:
        assert (experiment / f"trial-{row['trial_id']}" / "confusion_matrix.png").stat().st_size > 0
    report = (experiment / "report.md").read_text()
    assert "Best trial" in report and "ONNX" in report and "## Top trials" in report
    for figure in ("best_so_far.png", "learning_curves.png", "metric_vs_params.png", "importance.png"):
        assert (experiment / figure).stat().st_size > 1000, figure
        assert f"]({figure})" in report

    # Tracking: offline wandb runs for `wandb sync`, and the API key is written nowhere.
    assert len(list((experiment / "wandb").glob("offline-run-*"))) == 3
    for file in experiment.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


def test_wandb_online_needs_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rayjob.sweep import tracking_callbacks

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs WANDB_API_KEY in the environment"):
        tracking_callbacks(Config.from_dict({"run": {"wandb": "online"}}), tmp_path)
    assert tracking_callbacks(Config(), tmp_path) == []


def test_trial_with_two_ddp_workers(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = sweep_config(tiny_config, search__num_samples=1, scaling__num_workers=2, trainer__max_epochs=1)
    assert main(["--config", write(cfg, tmp_path)]) == 0
    (row,) = read_trials(cfg)
    assert row["status"] == "COMPLETED"
    checkpoint = Path(row["checkpoint"])
    assert checkpoint.is_file() and f"train-{row['trial_id']}" in str(checkpoint)


def test_concurrency_follows_resources_and_refuses_trials_that_cannot_fit(capsys: pytest.CaptureFixture) -> None:
    from rayjob.sweep import trial_concurrency

    def cfg(**scaling: object) -> Config:
        return Config.from_dict({"scaling": scaling, "search": {"num_samples": 10}, "trainer": {"accelerator": "cpu"}})

    assert trial_concurrency(cfg(num_workers=0, cpus_per_worker=1), {"CPU": 8}, remote=False) == 8
    assert trial_concurrency(cfg(num_workers=2, cpus_per_worker=2), {"CPU": 8}, remote=False) == 2
    gpu = Config.from_dict({"trainer": {"accelerator": "gpu"}, "scaling": {"gpus_per_worker": 0.5}})
    assert trial_concurrency(gpu, {"CPU": 16, "GPU": 2}, remote=False) == 4  # fractional GPUs
    with pytest.raises(ConfigError, match=r"one trial needs 3 CPU .* this Ray cluster has 2 CPU"):
        trial_concurrency(cfg(num_workers=3, cpus_per_worker=1), {"CPU": 2}, remote=False)
    assert trial_concurrency(cfg(num_workers=3), {"CPU": 2}, remote=True) == 1  # an autoscaler may add nodes
    assert "waiting for the autoscaler" in capsys.readouterr().out
