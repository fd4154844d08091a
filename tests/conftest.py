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

# Modules whose tests start Ray, sweeps or clusters: under pytest-xdist (pyproject's addopts: 2 workers) they
# run one at a time, all in one worker, since each sizes its trials to the machine's cores, some time their
# kills by its epochs, and two Rays with dashboards would contend for the agent's port; the other worker runs
# the other tests beside them, one by one.
RAY_MODULES = {"test_budget", "test_cluster_s3", "test_console", "test_faults", "test_job_submit", "test_search_replay",
               "test_train", "test_tune", "test_tune_resume"}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Ray tests first (stable otherwise): their chain is the suite's long pole, so it starts at once."""
    items.sort(key=lambda item: item.module.__name__ not in RAY_MODULES)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduling with one scope for every test of ``RAY_MODULES`` and one per test otherwise
    (``--dist loadgroup`` would do it from markers, but xdist 3.8 cannot rename test ids under pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class RayTestsInOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "ray" if Path(nodeid.split("::")[0]).stem in RAY_MODULES else nodeid

    return RayTestsInOneWorker(config, log)


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
