"""The cluster path against real servers: a 3-node Ray cluster on this machine, results and data on S3.

Nodes: a head with 0 CPUs and the `rayjob_driver` resource (the trial drivers' home, as in cluster.yaml)
and two 1-CPU worker nodes (Ray's own `ray.cluster_utils.Cluster`). Storage: SeaweedFS's S3 API on
127.0.0.1 (tests/s3_server.py). The sweep's driver runs as a subprocess joined to the cluster (as under
`ray job submit`). Mid-sweep a worker node running a trial is removed outright (its raylet killed: a spot
reclaim) and a fresh node is added; the sweep must finish with every trial, redo at most one epoch of the
hit trial, use the new node, and leave its deliverables in the bucket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import free_port, make_image_folder, write_config
from s3_server import create_bucket, s3_server

from rayjob.config import Config
from rayjob.storage import delete, download, exists, read_text, upload, write_text

BUCKET = "rayjob-test"
COLORS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    monkeypatch = pytest.MonkeyPatch()
    with s3_server() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)  # before any Ray node starts: every node inherits them
        create_bucket(env, BUCKET)
        yield env
    monkeypatch.undo()


def test_a_changed_image_in_the_bucket_is_fetched_again_and_an_unchanged_bucket_is_not(
    s3: dict[str, str], tmp_path: Path
) -> None:
    """A node's copy of a URI dataset is reused only while the bucket's listing matches (names, sizes, mtimes)."""
    import numpy as np
    from PIL import Image

    from rayjob.data.sources import cached_copy

    uri = f"s3://{BUCKET}/fresh/data"
    folder = make_image_folder(tmp_path / "up", COLORS, {"train": 2, "val": 1})
    upload(folder, uri)
    first = cached_copy(uri, tmp_path / "cache")
    assert cached_copy(uri, tmp_path / "cache") == first  # unchanged: the same copy, no download
    (first / "train" / "red" / "marker").write_text("kept")  # a re-download would not have it
    assert (cached_copy(uri, tmp_path / "cache") / "train" / "red" / "marker").is_file()

    changed = tmp_path / "changed.png"
    Image.fromarray(np.full((12, 12, 3), 7, dtype=np.uint8)).save(changed)  # another size, other pixels
    upload(changed, f"{uri}/train/red/red_0.png")
    second = cached_copy(uri, tmp_path / "cache")
    assert second != first
    assert np.asarray(Image.open(second / "train" / "red" / "red_0.png")).max() == 7  # the new file
    assert not (second / "train" / "red" / "marker").exists()


def test_storage_round_trip_on_s3(s3: dict[str, str], tmp_path: Path) -> None:
    """What every deliverable relies on: folders and files up and down, into folders that do not exist yet."""
    folder = make_image_folder(tmp_path / "up", COLORS, {"train": 1, "val": 1})
    upload(folder, f"s3://{BUCKET}/round/data")
    write_text(f"s3://{BUCKET}/round/note.txt", "hello")
    assert exists(f"s3://{BUCKET}/round/data/train/red") and read_text(f"s3://{BUCKET}/round/note.txt") == "hello"
    back = download(f"s3://{BUCKET}/round/data", tmp_path / "new" / "data")
    assert sorted(p.relative_to(back) for p in back.rglob("*.png")) == sorted(
        p.relative_to(folder) for p in folder.rglob("*.png")
    )
    assert download(f"s3://{BUCKET}/round/note.txt", tmp_path / "a" / "b.txt").read_text() == "hello"
    delete(f"s3://{BUCKET}/round/note.txt")
    assert not exists(f"s3://{BUCKET}/round/note.txt")


@pytest.fixture
def cluster(s3: dict[str, str]) -> Iterator[object]:
    """Head (0 CPUs, drivers) + two 1-CPU workers. Only its own processes are ended."""
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="rj")
    # Ray's Cluster writes the head's address to $RAY_TMPDIR/ray/ray_current_cluster (default /tmp/ray, which
    # may not exist, and may be another Ray's): here, inside this cluster's own temp dir.
    os.makedirs(os.path.join(temp_dir, "ray"))
    head = {"num_cpus": 0, "resources": {"rayjob_driver": 4}, "temp_dir": temp_dir, "include_dashboard": True,
            "dashboard_port": free_port()}  # not 8265: another Ray on this machine may hold it  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("RAY_TMPDIR", temp_dir)
            nodes = Cluster(initialize_head=True, head_node_args=head)
            try:
                for _ in range(2):
                    nodes.add_node(num_cpus=1)
                yield nodes
            finally:
                nodes.shutdown()
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def registered(experiment: str) -> dict[str, list[dict]]:
    """Per Train run (trial) in the bucket: the metrics of every checkpoint Ray Train registered."""
    from pyarrow import fs as pafs

    filesystem, base = pafs.FileSystem.from_uri(experiment)
    runs = {}
    for info in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
        if info.base_name.startswith("train-"):
            text = read_text(f"{experiment}/{info.base_name}/checkpoint_manager_snapshot.json")
            if text:
                runs[info.base_name] = [r["metrics"] for r in json.loads(text)["checkpoint_results"]]
    return runs


def reclaim_a_busy_node(nodes: object, experiment: str) -> tuple[tuple[str, str], str] | None:
    """If a trial has registered 1-2 checkpoints: remove the worker node it runs on (raylet killed, a spot
    reclaim), add a fresh one, and return ((train run, removed node id), added node id)."""
    for run, metrics in registered(experiment).items():
        if 1 <= len(metrics) <= 2:
            victim = next(n for n in nodes.worker_nodes if n.node_id == metrics[-1]["worker_nodes"])
            nodes.remove_node(victim, allow_graceful=False)
            return (run, victim.node_id), nodes.add_node(num_cpus=1).node_id
    return None


def sweep_with_a_reclaim(nodes: object, experiment: str, command: list[str], log: Path) -> tuple[int, tuple, str]:
    """Run the sweep's driver against the cluster (as `ray job submit` would) and reclaim one node mid-trial.
    Nodes are removed and added from this (main) thread: Ray's node start sets signal handlers.
    Returns (exit status, (train run, removed node id) or (), the added node's id)."""
    env = {**os.environ, "RAY_ADDRESS": nodes.address, "PYTHONUNBUFFERED": "1"}
    reclaimed = None
    with open(log, "w") as out:
        driver = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 600
        while driver.poll() is None and time.monotonic() < deadline:
            reclaimed = reclaimed or reclaim_a_busy_node(nodes, experiment)
            time.sleep(0.2)
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    hit, added = reclaimed or ((), "")
    return driver.wait(), hit, added


def test_sweep_on_three_nodes_with_s3_storage_survives_a_spot_reclaim(
    cluster: object, tmp_path: Path, tiny_config: Callable[..., Config]
) -> None:
    data = make_image_folder(tmp_path / "big", COLORS, {"train": 24, "val": 8})
    upload(data, f"s3://{BUCKET}/datasets/colors")
    experiment = f"s3://{BUCKET}/results/multi"
    cfg = tiny_config(
        data__root=f"s3://{BUCKET}/datasets/colors", data__cache_dir=str(tmp_path / "cache"), data__image_size=32,
        model__backbone="cnn_small",  # small checkpoints, a quick export: the test is about the path, not accuracy
        scaling__num_workers=1, scaling__cpus_per_worker=1, run__storage_path=f"s3://{BUCKET}/results",
        run__name="multi", run__max_failures=3, run__checkpoints_to_keep=10, trainer__max_epochs=4,
        search__space={"optim.lr": {"loguniform": [3e-4, 3e-3]}}, search__num_samples=3,
        search__scheduler="fifo", search__driver_resources={"rayjob_driver": 1},
    )  # fmt: skip
    command = [sys.executable, "-m", "rayjob.tune", "--config", write_config(cfg, tmp_path)]
    status, hit, added = sweep_with_a_reclaim(cluster, experiment, command, tmp_path / "sweep.log")
    output = (tmp_path / "sweep.log").read_text()
    assert status == 0, output[-4000:]
    assert hit, "no worker node was removed mid-trial"

    from rayjob.results import read_records

    records = read_records(experiment)
    head = cluster.head_node.node_id
    workers = {n.node_id for n in cluster.worker_nodes} | {hit[1]}
    assert len(records) == 3 and all(r.status == "COMPLETED" for r in records)  # every trial accounted for
    assert all(r.driver_node == head for r in records)  # trial drivers on the head (rayjob_driver)
    assert all(r.worker_nodes in workers and r.worker_nodes != head for r in records)
    assert any(r.worker_nodes == added for r in records)  # the node added afterwards was used
    assert sorted(m["epoch"] for m in registered(experiment)[hit[0]]) == [1, 2, 3, 4]  # resumed, each epoch once
    assert len(list((tmp_path / "cache" / "datasets").iterdir())) == 1  # the data was copied once (one host)

    check_deliverables(experiment, records, tmp_path)

    # --extend on the URI: 1 more trial, the first 3 records as they were, the post-hook over all 4.
    env = {**os.environ, "RAY_ADDRESS": cluster.address, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([*command, "--extend", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    extended = read_records(experiment)
    assert len({r.trial_id for r in extended}) == 4
    before = {r.trial_id: r for r in records}
    assert {r.trial_id: r for r in extended if r.trial_id in before} == before  # unchanged
    assert "3 earlier trials taken from" in " ".join(done.stdout.split())  # the URI's new study holds them
    assert exists(f"{experiment}/extend-1/sweep/extended.json") and exists(f"{experiment}/export/model.onnx")


def check_deliverables(experiment: str, records: list, tmp_path: Path) -> None:
    """trials table, report and plots, ONNX + sidecar in the bucket; the ONNX model agrees with the checkpoint."""
    for name in ("config.yaml", "trials.csv", "trials.jsonl", "report.md", "best_so_far.png", "learning_curves.png",
                 "export/model.onnx", "export/model.json"):  # fmt: skip
        assert exists(f"{experiment}/{name}"), name
    for r in records:
        assert exists(f"{experiment}/trial-{r.trial_id}/confusion_matrix.png")
    local = download(f"{experiment}/export", tmp_path / "export")
    sidecar = json.loads((local / "model.json").read_text())
    checkpoint = download(sidecar["source_checkpoint"], tmp_path / "best" / "checkpoint.ckpt")

    import torch

    from rayjob.data.dataset import eval_batches
    from rayjob.data.files import scan_dataset
    from rayjob.data.sources import resolve_root
    from rayjob.outputs.onnx import inference_session, load_ema_model

    model, cfg, _, _ = load_ema_model(checkpoint)
    session = inference_session(local / "model.onnx")
    for images, _ in eval_batches(cfg.data, scan_dataset(resolve_root(cfg.data)).splits["val"], 64):
        with torch.no_grad():
            expected = model(images).argmax(1).numpy()
        np.testing.assert_array_equal(session.run(["logits"], {"input": images.numpy()})[0].argmax(1), expected)
