"""The cost of checking a URI dataset's listing before a node reuses its copy (rayjob.data.sources).

    python benchmarks/listing_check.py

Starts the tests' S3 server (SeaweedFS on 127.0.0.1), uploads the embedded camera-digits dataset
(3,547 images and a marker file), then times, on one node: the first ``resolve_root`` (listing + download), a reuse
(the listing check alone, what every later trial and worker on the node pays), and ``listing_digest``
by itself. A local S3 server has no network latency: on a real bucket each listing page (1,000 keys)
is one round trip more.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import ROOT

sys.path.insert(0, str(ROOT / "tests"))  # the S3 test server lives with the tests

from s3_server import create_bucket, s3_server  # noqa: E402

from rayjob.config import DataSection  # noqa: E402
from rayjob.data.digits import ensure_embedded  # noqa: E402
from rayjob.data.sources import _filesystem, listing_digest, resolve_root  # noqa: E402
from rayjob.storage import upload  # noqa: E402

REPEATS = 5


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, s3_server() as env:
        os.environ.update(env)
        create_bucket(env, "bench")
        local = ensure_embedded("camera-digits", Path(tmp) / "source")
        files = sum(1 for f in local.rglob("*") if f.is_file())
        uri = "s3://bench/camera-digits"
        started = time.perf_counter()
        upload(local, uri)
        print(f"uploaded {files} files in {time.perf_counter() - started:.1f} s")
        cfg = DataSection(root=uri, cache_dir=str(Path(tmp) / "node-cache"))
        started = time.perf_counter()
        resolve_root(cfg)
        first = time.perf_counter() - started
        reuse = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            resolve_root(cfg)
            reuse.append(time.perf_counter() - started)
        filesystem, base = _filesystem(uri)
        digest = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            listing_digest(filesystem, base, uri)
            digest.append(time.perf_counter() - started)
    print(f"first use on a node (listing + download)   {first:7.3f} s")
    print(f"reuse on that node (the listing check)     {statistics.median(reuse):7.3f} s  (median of {REPEATS})")
    print(f"listing_digest alone                       {statistics.median(digest):7.3f} s  (median of {REPEATS})")
    print(f"listing check / first use                  {statistics.median(reuse) / first:7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
