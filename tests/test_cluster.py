"""cluster.yaml and configs/t4.yaml: Ray's own validation, security, and data URIs."""

import copy
from pathlib import Path

import pytest
import yaml
from helpers import make_image_folder

from rayjob.config import Config, load_config
from rayjob.data.sources import cached_copy, check_remote_layout
from rayjob.errors import DataError
from rayjob.sweep.resources import trial_concurrency, trial_resources
from rayjob.sweep.space import check_space

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = yaml.safe_load((ROOT / "cluster.yaml").read_text())


def validate(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_cluster_yaml_passes_rays_validation() -> None:
    prepared = validate(CLUSTER)
    assert prepared["docker"]["image"].startswith("rayproject/ray:") and "-gpu" in prepared["docker"]["image"]
    workers = prepared["available_node_types"]["gpu_t4"]
    assert workers["node_config"]["InstanceType"].startswith("g4dn.") and workers["min_workers"] == 0
    assert prepared["idle_timeout_minutes"] > 0
    broken = copy.deepcopy(CLUSTER)
    broken["available_node_types"]["gpu_t4"]["max_wrokers"] = 2  # the validation really checks
    with pytest.raises(Exception, match="max_wrokers"):
        validate(broken)


def test_cluster_exposes_only_ssh_and_uses_token_auth() -> None:
    permissions = CLUSTER["provider"]["security_group"]["IpPermissions"]
    assert [(p["FromPort"], p["ToPort"]) for p in permissions] == [(22, 22)]
    head_start = " ".join(CLUSTER["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "RAY_AUTH_MODE=token" in head_start
    assert "RAY_AUTH_MODE=token" in " ".join(CLUSTER["worker_start_ray_commands"])
    assert "~/.ray/auth_token" in CLUSTER["file_mounts"]
    assert CLUSTER["available_node_types"]["head"]["resources"]["rayjob_driver"] > 0


def test_t4_config_resolves_for_the_cluster() -> None:
    cfg = load_config(ROOT / "configs" / "t4.yaml")
    check_space(cfg)
    assert cfg.trainer.precision == "16-mixed" and cfg.data.image_size == 224
    assert cfg.run.storage_path.startswith("s3://") and cfg.data.root.startswith("s3://")
    cluster = {"CPU": 16.0, "GPU": 4.0, "memory": 64e9, "rayjob_driver": 64.0}  # head + 4 g4dn.xlarge
    assert trial_concurrency(cfg, cluster, remote=True) == 4
    assert trial_resources(cfg) == {"cpu": 4, "gpu": 1}  # one GPU per trial, in the trial's own process


def test_uri_dataset_is_copied_once_per_node(tmp_path: Path) -> None:
    source = make_image_folder(tmp_path / "bucket", {"a": (200, 0, 0), "b": (0, 0, 200)}, {"train": 2, "val": 1})
    uri = f"file://{source}"
    check_remote_layout(uri)
    first = cached_copy(uri, tmp_path / "cache")
    assert sorted(p.name for p in (first / "train").iterdir()) == ["a", "b"]
    marker = first / ".complete"
    stamp = marker.stat().st_mtime_ns
    assert cached_copy(uri, tmp_path / "cache") == first and marker.stat().st_mtime_ns == stamp

    (source / "val" / "a" / "a_0.png").unlink()
    (source / "val" / "a").rmdir()
    (source / "val" / "b" / "b_0.png").unlink()
    (source / "val" / "b").rmdir()
    (source / "val").rmdir()
    with pytest.raises(DataError, match="val does not exist or is not a folder"):
        check_remote_layout(uri)


def test_unreachable_local_dataset_names_the_node(tmp_path: Path) -> None:
    from rayjob.data.sources import resolve_root

    cfg = Config.from_dict({"data": {"root": str(tmp_path / "not-mounted")}})
    with pytest.raises(DataError, match=r"does not exist on node .*shared filesystem .* s3://"):
        resolve_root(cfg.data)
