"""Shared fixtures: tiny datasets and configs, and an isolated Ray for the tests that need one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import make_image_folder

from rayjob.config import Config
from rayjob.data.digits import ensure_digits


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """Three visibly different classes, 8 train, 4 val and 4 test images each."""
    colors = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}
    return make_image_folder(tmp_path / "data", colors, {"train": 8, "val": 4, "test": 4})


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_digits(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def tiny_config(tiny_root: Path, tmp_path: Path) -> Callable[..., Config]:
    """Build a config for a seconds-long run on ``tiny_root``; keyword args are dotted overrides."""

    def build(**overrides: object) -> Config:
        raw: dict = {
            "data": {"root": str(tiny_root), "image_size": 16, "batch_size": 8, "augment": "none"},
            "model": {"backbone": "cnn_small"},  # the quickstart's: small checkpoints, a quick ONNX export
            "ema": {"decay": 0.9},
            "trainer": {"max_epochs": 2, "accelerator": "cpu", "progress_bar": False},
            "run": {"name": "tiny", "storage_path": str(tmp_path / "results")},
        }
        for key, value in overrides.items():
            section, _, leaf = key.partition("__")
            raw.setdefault(section, {})[leaf] = value
        return Config.from_dict(raw)

    return build


@pytest.fixture
def ray_tmpdir() -> Iterator[str]:
    """A short temp folder for a Ray started by a subprocess (RAY_TMPDIR): socket paths have a length limit."""
    temp_dir = tempfile.mkdtemp(prefix="rj")
    try:
        yield temp_dir
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A Ray of our own: local, in its own temp dir, shut down afterwards (never a machine-wide stop)."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rj")  # short: Ray's socket paths have a length limit
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(address="local", num_cpus=4, _temp_dir=temp_dir, include_dashboard=True, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
