"""The sweep: Optuna + ASHA over the training function, in-process and TorchTrainer trials."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import checkpoint_epochs, load_study, write_config

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.export import main as export_main
from rayjob.layout import RUN_PLOT_FILES
from rayjob.results import best_trial, read_records
from rayjob.sweep.space import check_space
from rayjob.tune import main

SPACE = {"model.backbone": {"choice": ["cnn_small", "resnet18"]}, "optim.lr": {"loguniform": [3e-4, 3e-3]}}


def sweep_config(tiny_config: Callable[..., Config], **overrides: object) -> Config:
    settings: dict[str, object] = {"search__space": SPACE, "search__num_samples": 3}
    return tiny_config(**{**settings, **overrides})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"optim.lrr": {"choice": [1]}}, "optim.lrr is not a config key"),
        ({"optim.lr": {"normal": [0, 1]}}, "unknown distribution 'normal'"),
        ({"optim.lr": {"choice": []}}, "choice needs a non-empty list"),
        ({"optim.lr": {"loguniform": [0, 1]}}, "loguniform bounds must be positive"),
        ({"model.backbone": {"choice": ["resnet18", "vgg99"]}}, r"value 'vgg99' is not valid: unknown backbone"),
        ({"data.augment.crop_scale": {"choice": [0.6, 2.0]}}, r"value 2.0 is not valid"),
        ({"run.name": {"choice": ["a", "b"]}}, "cannot be searched"),
        ({"optim.lr": 0.1}, "must name one distribution"),
        ({"optim.lr": {"loguniform": [1e-2, 1e-1]}}, r"config's optim.lr=0.001 is outside search.space.optim.lr"),
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
    cfg = sweep_config(tiny_config, run__wandb="offline", run__checkpoints_to_keep=10)
    assert main(["--config", write_config(cfg, tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("val/acc_top1 ")

    experiment = Path(cfg.run.storage_path) / cfg.run.name
    records = read_records(str(experiment))
    assert len(records) == 3 and sum(r.is_base for r in records) == 1
    for r in records:
        assert r.status in ("COMPLETED", "STOPPED") and r.params["model.backbone"] in ("cnn_small", "resnet18")
        assert isinstance(r.params["optim.lr"], float)  # typed, not the string a CSV would give back
        assert len(r.curve) == r.epochs and None not in r.curve  # every epoch was seen, in order
        assert checkpoint_epochs(experiment / f"trial-{r.trial_id}") == list(range(1, r.epochs + 1))
        assert (r.status == "COMPLETED") == (r.epochs == 2)
    assert (experiment / "config.yaml").is_file() and (experiment / "trials.csv").is_file()

    # One best trial, named the same by the summary, the trials table, the report and the sidecar.
    best = best_trial(records, "val/acc_top1", "max")
    assert Path(best.checkpoint).is_file() and f"checkpoint_{best.epochs - 1:06d}" in best.checkpoint  # its last
    assert float(out[-1].split()[1]) == round(best.final, 4)
    assert out[-2].startswith("test/acc_top1 ") and "test top-1     " in "\n".join(out)
    assert f"best trial     {best.trial_id} " in "\n".join(out)
    report = (experiment / "report.md").read_text()
    assert f"**Best trial `{best.trial_id}`**" in report and "ONNX" in report and "## Top trials" in report
    sidecar = json.loads((experiment / "export" / "model.json").read_text())
    assert sidecar["trial_id"] == best.trial_id and sidecar["source_checkpoint"] == best.checkpoint
    assert sidecar["heldout"]["pick"]["trial_id"] == best.trial_id and sidecar["heldout"]["split"] == "test"
    assert f"{sidecar['heldout']['pick']['top1']:.4f}" == out[-2].split()[1]
    assert "## Held-out test accuracy" in report and "standard error" in report

    # The post-hook: per-trial plots, a verified ONNX of the best trial, the report and its figures.
    assert (experiment / "export" / "model.onnx").is_file()
    for r in records:  # each trial's confusion matrix, history and validation samples
        for name in RUN_PLOT_FILES:
            assert (experiment / f"trial-{r.trial_id}" / name).stat().st_size > 1000, name
    for figure in ("best_so_far.png", "learning_curves.png", "metric_vs_params.png"):
        assert (experiment / figure).stat().st_size > 1000, figure
        assert f"]({figure})" in report
    assert "Parameter importance" in report and "needs at least 5 finished trials" in report  # 3 trials: no plot
    for linked in ("trials.csv", "trials.jsonl", "config.yaml", "optuna_journal.log", "export/model.onnx",
                   "export/model.json", "best_confusion_matrix.png", "best_history.png", "best_samples.png"):
        assert (experiment / linked).is_file() and f"]({linked})" in report, linked  # every file a user reads

    # Latency: one measurement per architecture; the fastest trial within PP points is exported on demand.
    latency = json.loads((experiment / "export" / "latency.json").read_text())["batch_1_ms"]
    assert {key.split("@")[0] for key in latency} == {r.params["model.backbone"] for r in records}
    assert "](accuracy_latency.png)" in report
    assert export_main([str(experiment), "--fastest-within", "100"]) == 0  # every finished trial qualifies
    fastest = json.loads((experiment / "export_fastest" / "model.json").read_text())
    chosen = next(r for r in records if r.trial_id == fastest["trial_id"])
    ms = {r.trial_id: latency[f"{r.params['model.backbone']}@16px/3"] for r in records}
    assert ms[chosen.trial_id] == min(ms[r.trial_id] for r in records if r.status == "COMPLETED")
    assert fastest["selection"]["rule"] == "fastest within 100 pp of the best val/acc_top1 at the last epoch"
    assert fastest["checks"]["top1_agreement"] == 1.0 and (experiment / "export_fastest" / "model.onnx").is_file()

    # Tracking: offline wandb runs for `wandb sync`, and the API key is written nowhere.
    assert len(list((experiment / "wandb").glob("offline-run-*"))) == 3
    for file in experiment.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


def test_wandb_online_needs_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rayjob.sweep.tracking import tracking_callbacks

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs WANDB_API_KEY in the environment"):
        tracking_callbacks(Config.from_dict({"run": {"wandb": "online"}}), str(tmp_path))
    assert tracking_callbacks(Config(), str(tmp_path)) == []


def test_concurrency_follows_resources_and_refuses_trials_that_cannot_fit(capsys: pytest.CaptureFixture) -> None:
    from rayjob.sweep.resources import trial_concurrency

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


def test_extend_adds_trials_in_the_same_study_and_a_warm_start_takes_them_all(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = sweep_config(tiny_config, search__scheduler="asha", search__grace_period=1, optim__warmup_epochs=0,
                       run__name="grow")  # fmt: skip
    config_file = write_config(cfg, tmp_path)
    assert main(["--config", config_file]) == 0
    experiment = Path(cfg.run.storage_path) / "grow"
    first = {r.trial_id: r for r in read_records(str(experiment))}
    assert len(first) == 3

    capsys.readouterr()
    assert main(["--config", config_file, "--extend", "2"]) == 0
    out = capsys.readouterr().out
    after = read_records(str(experiment))
    assert len({r.trial_id for r in after}) == 5
    assert {r.trial_id: r for r in after if r.trial_id in first} == first  # the earlier trials as they were
    new = [r for r in after if r.trial_id not in first]
    assert all("/extend-1/trial-" in r.checkpoint for r in new)
    study = load_study(experiment)
    assert [t.state.name in ("COMPLETE", "PRUNED") for t in study.trials] == [True] * 5  # one study, only what ran
    assert "trials         5:" in out and (experiment / "export" / "model.onnx").is_file()
    assert out.strip().splitlines()[-1].startswith("val/acc_top1 ")

    # A new sweep warm-started from the extended one: its study holds those 5 trials and its own.
    again = cfg.with_values({"run.name": "again", "search.num_samples": 1, "search.warm_start": str(experiment)})
    capsys.readouterr()
    assert main(["--config", write_config(again, tmp_path, "again.yaml")]) == 0
    assert f"5 earlier trials taken from {experiment}; 0 did not fit" in " ".join(capsys.readouterr().out.split())
    seeded = load_study(Path(cfg.run.storage_path) / "again")
    assert sum("warm_start" in t.user_attrs for t in seeded.trials) == 5
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in seeded.trials) == 5 + 1

    with pytest.raises(ConfigError, match="holds no finished sweep to extend"):
        other = write_config(cfg.with_values({"run.name": "nothing"}), tmp_path, "other.yaml")
        main(["--config", other, "--extend", "1"])


def test_a_trial_after_another_in_the_same_process_trains_as_it_would_alone(
    tiny_config: Callable[..., Config], local_ray: None
) -> None:
    """In-process trials reuse their process (reuse_actors): its RNG, EMA, weights and memory must not carry over.
    The second of two trials in one process reports the losses of the same trial run alone."""
    from rayjob.lifecycle import Sweep

    lrs = [1e-3, 3e-3]
    settings = {"search__scheduler": "fifo", "search__max_concurrent_trials": 1, "trainer__max_epochs": 2,
                "data__augment": "basic", "ema__decay": 0.5}  # fmt: skip
    both = tiny_config(**settings, run__name="both", search__space={"optim.lr": {"choice": lrs}},
                       search__points_to_evaluate=[{"optim.lr": lr} for lr in lrs], search__num_samples=2)  # fmt: skip
    alone = tiny_config(**settings, run__name="alone", search__space={"optim.lr": {"choice": lrs[1:]}},
                        search__num_samples=1, optim__lr=lrs[1])  # fmt: skip
    losses = {}
    for cfg in (both, alone):
        outcome = Sweep.open(cfg).fit()
        for record in outcome.records:
            folder = Path(outcome.experiment) / f"trial-{record.trial_id}"
            reports = [json.loads(line) for line in (folder / "result.json").read_text().splitlines()]
            pids = {json.loads(line)["pid"] for line in (folder / "timing.jsonl").read_text().splitlines()}
            losses[cfg.run.name, record.params["optim.lr"]] = ([r["val/loss"] for r in reports], pids)
    assert losses["both", lrs[0]][1] == losses["both", lrs[1]][1]  # one process ran both
    assert losses["both", lrs[1]][0] == losses["alone", lrs[1]][0] and len(losses["alone", lrs[1]][0]) == 2
