"""Every user error: one line naming the problem and the fix, exit status 2, no traceback, no Ray."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import make_image_folder, write_image

from rayjob.config import Config

COLORS = {"a": (200, 30, 30), "b": (30, 200, 30)}


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120)


def assert_user_error(done: subprocess.CompletedProcess, message: str) -> None:
    err = done.stderr.strip()
    assert done.returncode == 2, (done.stdout[-2000:], err[-2000:])
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in done.stdout + done.stderr
    assert "Started a local Ray instance" not in done.stdout + done.stderr


def broken_dataset(kind: str, root: Path) -> Path:
    make_image_folder(root, COLORS, {"train": 2, "val": 1})
    if kind == "missing_val":
        for f in (root / "val").rglob("*.png"):
            f.unlink()
        for d in sorted((root / "val").iterdir()):
            d.rmdir()
        (root / "val").rmdir()
    elif kind == "empty_class":
        (root / "train" / "c").mkdir()
    elif kind == "corrupt_image":
        (root / "train" / "a" / "a_0.png").write_bytes(b"\x89PNG but truncated")
    elif kind == "one_class":
        for f in (root / "train" / "b").iterdir():
            f.unlink()
        (root / "train" / "b").rmdir()
        for f in (root / "val" / "b").iterdir():
            f.unlink()
        (root / "val" / "b").rmdir()
    elif kind == "val_class_not_in_train":
        write_image(root / "val" / "zebra" / "z.png", (1, 1, 1))
    return root


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=1"], "unknown config key optim.lrr (did you mean optim.lr?)"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc' has the wrong type: expected an integer"),
        (["model.backbone=vgg99"], "unknown backbone 'vgg99' (model.backbone); known: "),
        (["data.augment=heavy"], "data.augment='heavy': augment preset 'heavy' is unknown; choose one of: none, basic"),
        (["search.space={optim.lr: {normal: [0, 1]}}"], "search.space.optim.lr: unknown distribution 'normal'"),
        (["search.space={model.backbone: {choice: []}}"], "choice needs a non-empty list"),
        (["run.storage_path=/proc/rayjob-results"], "run.storage_path /proc/rayjob-results is not writable"),
        (["search.time_budget=soon"], "search.time_budget='soon': 'soon' is no duration: use seconds (90) or"),
        (["search.time_budget=0"], "a time budget must be more than 0 seconds"),
        (["search.warm_start=/nonexistent/sweep"], "search.warm_start: /nonexistent/sweep holds no sweep"),
        (["run.ray_dashboard=off", "scaling.num_workers=1"], "run.ray_dashboard=off with scaling.num_workers=1"),
    ],
)
def test_config_errors(overrides: list[str], message: str, tmp_path: Path) -> None:
    base = [] if any(o.startswith("run.storage_path") for o in overrides) else [f"run.storage_path={tmp_path}"]
    assert_user_error(run("rayjob.tune", *base, *overrides), message)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing_root", "does not exist on node"),
        ("missing_val", "val does not exist; the dataset root needs val/<class>/ folders"),
        ("empty_class", "train/c holds no images"),
        ("corrupt_image", "1 file(s) in "),
        ("one_class", "has 1 class folder(s) (a); a classifier needs at least 2"),
        ("val_class_not_in_train", "val has class folder(s) not in train/: zebra"),
    ],
)
def test_data_errors(kind: str, message: str, tmp_path: Path) -> None:
    root = tmp_path / "data" if kind == "missing_root" else broken_dataset(kind, tmp_path / "data")
    for module in ("rayjob.train", "rayjob.tune"):
        done = run(module, f"data.root={root}", f"run.storage_path={tmp_path / 'results'}")
        assert_user_error(done, message)
    if kind == "corrupt_image":
        assert "a_0.png" in done.stderr and "remove or replace them" in done.stderr


def test_resume_without_a_sweep_and_export_without_trials(tiny_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = tiny_config(search__space={"optim.lr": {"loguniform": [1e-4, 1e-3]}})
    file = tmp_path / "c.yaml"
    file.write_text(cfg.to_yaml())
    assert_user_error(run("rayjob.tune", "--config", str(file), "--resume"), "holds no sweep to resume")
    assert_user_error(run("rayjob.tune", "--config", str(file), "--extend", "2"), "holds no finished sweep to extend")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run("rayjob.export", str(empty)), "holds no finished trial or checkpoint to export")
    assert_user_error(run("rayjob.export", str(empty), "--fastest-within", "1"), "--fastest-within needs a sweep")


def test_wandb_online_without_key_fails_before_ray(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "rayjob.tune", "run.wandb=online", f"run.storage_path={tmp_path}"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert_user_error(done, "run.wandb=online needs WANDB_API_KEY in the environment")


def test_unreachable_storage_uri_is_one_line_before_ray(tmp_path: Path) -> None:
    import os

    from helpers import free_port

    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "a",
           "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "rayjob.tune", "run.storage_path=s3://nobucket/results"],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert_user_error(done, "run.storage_path s3://nobucket/results is not writable: cannot reach")
    assert "AWS_ENDPOINT_URL" in done.stderr


def test_ray_temp_folder_too_deep_is_one_line(tmp_path: Path) -> None:
    import os

    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(deep)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "rayjob.tune", f"run.storage_path={tmp_path / 'results'}"],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert_user_error(done, "a local Ray could not start")
    assert "set RAY_TMPDIR to a short folder" in done.stderr


@pytest.mark.parametrize("cli", ["train", "tune", "export", "predict"])
@pytest.mark.parametrize("columns", [100, 80])
def test_every_help_fits_100_columns_and_shows_a_whole_example(
    cli: str, columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import importlib

    monkeypatch.setenv("COLUMNS", str(columns))  # argparse wraps to the terminal's width
    with pytest.raises(SystemExit) as exited:
        importlib.import_module(f"rayjob.{cli}").main(["--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    examples = [line.strip() for line in lines if line.strip().startswith(f"python -m rayjob.{cli} ")]
    assert examples and all(len(example.split()) >= 4 for example in examples)  # whole commands, unbroken


def test_ray_train_v1_is_refused_in_one_line_where_ray_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from rayjob.errors import RayjobError
    from rayjob.ray_cluster import check_train_v2, init_ray

    monkeypatch.setenv("RAY_TRAIN_V2_ENABLED", "0")
    with pytest.raises(RayjobError, match="rayjob needs it .*: unset RAY_TRAIN_V2_ENABLED"):
        init_ray()  # before anything of Ray starts
    monkeypatch.setenv("RAY_TRAIN_V2_ENABLED", "1")
    check_train_v2()
