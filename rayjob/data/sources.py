"""Where a run's images come from: an embedded dataset, a local folder, or a cloud URI.

A URI (``s3://bucket/prefix``, ``gs://...``, anything pyarrow.fs reads, ``file://`` too) is copied once
per node into ``<data.cache_dir>/datasets/<uri hash>/<listing hash>/`` and reused by every later trial
and worker on that node while the URI's listing (every file's name, size and modification time) is
unchanged: a bucket whose images change is fetched again. The copy is written to a staging folder and
renamed into place, so concurrent workers never read half a dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

from rayjob.config import DataSection
from rayjob.data.digits import ensure_embedded
from rayjob.errors import DataError
from rayjob.storage import is_uri

_DONE_MARKER = ".complete"


def resolve_root(cfg: DataSection) -> Path:
    """The local folder a run reads: the embedded dataset, ``data.root``, or this node's copy of a URI."""
    cache_dir = Path(cfg.cache_dir).expanduser()
    if cfg.root is None:
        return ensure_embedded(cfg.embedded, cache_dir)
    if is_uri(cfg.root):
        return cached_copy(cfg.root, cache_dir)
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"dataset root {root} does not exist on node {socket.gethostname()}; set data.root to an ImageFolder "
            "folder (on a cluster: a shared filesystem mounted on every node, or an s3:// / gs:// URI)"
        )
    return root


def check_remote_layout(uri: str) -> None:
    """Cheap driver-side check of a URI dataset: train/ and val/ exist (no download)."""
    from pyarrow import fs as pafs

    filesystem, base = _filesystem(uri)
    for split in ("train", "val"):
        info = filesystem.get_file_info(f"{base.rstrip('/')}/{split}")
        if info.type != pafs.FileType.Directory:
            raise DataError(f"{uri}/{split} does not exist or is not a folder; data.root needs train/ and val/")


def cached_copy(uri: str, cache_dir: Path) -> Path:
    """This node's copy of ``uri`` as it is now: downloaded on first use and again when its listing changed."""
    from pyarrow import fs as pafs

    filesystem, base = _filesystem(uri)
    version = listing_digest(filesystem, base, uri)
    target = cache_dir / "datasets" / hashlib.sha1(uri.encode()).hexdigest()[:16] / version
    if (target / _DONE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        pafs.copy_files(base, str(staging), source_filesystem=filesystem, destination_filesystem=pafs.LocalFileSystem())
        (staging / _DONE_MARKER).write_text(uri)
        try:
            os.rename(staging, target)
        except OSError:  # another worker finished first
            if not (target / _DONE_MARKER).exists():
                raise
    except OSError as err:
        message = f"cannot copy dataset {uri} to {target}: {err}; check the URI and the node's credentials"
        raise DataError(message) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def listing_digest(filesystem: object, base: str, uri: str) -> str:
    """A short hash of every file under ``base``: relative name, size, modification time (one listing call)."""
    from pyarrow import fs as pafs

    try:
        infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    except OSError as err:
        raise DataError(f"cannot list dataset {uri}: {err}; check the URI and the node's credentials") from None
    rows = sorted(
        f"{info.path[len(base):]}\t{info.size}\t{info.mtime_ns}" for info in infos if info.type == pafs.FileType.File
    )
    return hashlib.sha1("\n".join(rows).encode()).hexdigest()[:16]


def _filesystem(uri: str) -> tuple[object, str]:
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot open dataset URI {uri}: {err}") from None
