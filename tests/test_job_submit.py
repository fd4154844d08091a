"""`ray job submit --working-dir <project> -- python -m rayjob.tune` against a real Ray head.

The test starts its own head (free local ports, its own temp dir, token authentication on), submits the
sweep the way the README says, checks the results in the storage path, and stops only that head (its
process group): never a machine-wide `ray stop`.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import free_port

from rayjob.config import Config
from rayjob.results import read_records

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def ray_head() -> Iterator[dict[str, str]]:
    """A head node of our own; yields the environment a client needs to reach it."""
    import ray

    assert not ray.is_initialized()
    temp_dir = tempfile.mkdtemp(prefix="rj")
    dashboard = free_port()
    home = tempfile.mkdtemp(prefix="rj-home")  # Ray writes ~/.ray files; keep them out of the user's home
    env = {**os.environ, "HOME": home, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` in the job is this environment's
    env.pop("RAY_ADDRESS", None)
    command = [str(BIN / "ray"), "start", "--head", f"--port={free_port()}", f"--dashboard-port={dashboard}"]
    command += ["--dashboard-host=127.0.0.1", "--num-cpus=2", f"--temp-dir={temp_dir}", "--block"]
    command += ["--disable-usage-stats"]
    head = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:  # it answers (401 without the token): it is up
                break
            except OSError:
                assert head.poll() is None, "ray start --head exited"
                assert time.monotonic() < deadline, "the head's dashboard did not come up in 120 s"
                time.sleep(1)
        client = {**env, "RAY_API_SERVER_ADDRESS": address}
        wait_for_the_job_agent(client, deadline)
        yield client
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:  # `ray start --block` takes ~33 s to end after a SIGTERM here (some of its processes linger)
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # anything of that group still alive
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def wait_for_the_job_agent(env: dict[str, str], deadline: float) -> None:
    """Until a job can be submitted: the head's job agent registers after its dashboard answers, and the
    head gives up on an agent after 10 s ("No available agent to submit job"), which a loaded machine exceeds."""
    while True:
        probe = subprocess.run([str(BIN / "ray"), "job", "submit", "--no-wait", "--", "true"], env=env,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        if probe.returncode == 0:
            return
        output = probe.stdout + probe.stderr
        assert "No available agent" in output, output[-3000:]
        assert time.monotonic() < deadline, "the head's job agent did not come up in 120 s"
        time.sleep(1)


def test_job_submit_runs_the_sweep_and_writes_results(
    ray_head: dict[str, str], tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = tiny_config(
        search__space={"optim.lr": {"loguniform": [3e-4, 3e-3]}},
        search__num_samples=2,
        trainer__max_epochs=1,
    )
    config_file = tmp_path / "job.yaml"
    config_file.write_text(cfg.to_yaml())
    submit = [str(BIN / "ray"), "job", "submit", "--working-dir", str(ROOT), "--"]
    submit += ["python", "-m", "rayjob.tune", "--config", str(config_file)]
    done = subprocess.run(submit, env=ray_head, capture_output=True, text=True, timeout=480, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "succeeded" in output and "val/acc_top1 " in output

    experiment = Path(cfg.run.storage_path) / cfg.run.name
    records = read_records(str(experiment))
    assert len(records) == 2 and all(Path(r.checkpoint).is_file() for r in records)
    assert (experiment / "export" / "model.onnx").is_file() and (experiment / "report.md").is_file()
