"""Reading and writing run folders that may be local or remote (``s3://``, ``gs://``, any URI pyarrow reads).

Local paths go through ``pathlib``; URIs through ``pyarrow.fs``, with credentials and endpoint taken
only from the standard environment variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), as
Ray's own storage does. Outputs are rendered in a local folder and uploaded (``upload``), so every
writer in rayjob works on local files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rayjob.errors import RayjobError


class StorageError(RayjobError):
    """A storage path that cannot be read or written."""


def is_uri(path: str | os.PathLike[str]) -> bool:
    return "://" in str(path)


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for local paths and URIs alike."""
    if not is_uri(base):
        return str(Path(base, *parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def with_scheme(path: str, like: str) -> str:
    """Ray reports paths inside its filesystem (``bucket/prefix/...``); give them ``like``'s URI scheme back."""
    if is_uri(like) and not is_uri(path):
        return f"{like.split('://', 1)[0]}://{path}"
    return path


def filesystem(path: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a URI or a local path."""
    from pyarrow import fs as pafs

    if not is_uri(path):
        return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())
    try:
        return pafs.FileSystem.from_uri(path)
    except (OSError, ValueError) as err:
        raise StorageError(
            f"cannot open storage {path}: {err}; check the URI and the credentials in the environment"
        ) from None


def exists(path: str) -> bool:
    if not is_uri(path):
        return Path(path).exists()
    from pyarrow import fs as pafs

    fs, inner = filesystem(path)
    return _call(path, lambda: fs.get_file_info(inner).type != pafs.FileType.NotFound)


def read_text(path: str) -> str | None:
    """The file's text, or None when there is no such file."""
    if not is_uri(path):
        file = Path(path)
        return file.read_text() if file.is_file() else None
    if not exists(path):
        return None
    fs, inner = filesystem(path)
    return _call(path, lambda: _read_stream(fs, inner))


def write_text(path: str, text: str) -> None:
    """Write a whole file; local files appear complete or not at all (write, then rename)."""
    if not is_uri(path):
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f".{file.name}.partial")
        partial.write_text(text)
        os.replace(partial, file)
        return
    fs, inner = filesystem(path)
    _call(path, lambda: _write_stream(fs, inner, text.encode()))


def delete(path: str) -> None:
    """Remove one file (no error when it is already gone)."""
    if not is_uri(path):
        Path(path).unlink(missing_ok=True)
        return
    fs, inner = filesystem(path)
    _call(path, lambda: fs.delete_file(inner))


def upload(local: Path, dest: str) -> None:
    """Copy a local file or folder to ``dest`` (a local path or a URI); folders are merged."""
    if not is_uri(dest):
        if Path(dest).resolve() == local.resolve():
            return
        if local.is_dir():
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, dest)
        return
    from pyarrow import fs as pafs

    fs, inner = filesystem(dest)
    local_fs = pafs.LocalFileSystem()
    _call(dest, lambda: pafs.copy_files(str(local), inner, source_filesystem=local_fs, destination_filesystem=fs))


def download(src: str, local: Path) -> Path:
    """Copy a file or folder at ``src`` to ``local``; returns ``local``."""
    if not is_uri(src):
        source = Path(src)
        if source.is_dir():
            shutil.copytree(source, local, dirs_exist_ok=True)
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, local)
        return local
    from pyarrow import fs as pafs

    fs, inner = filesystem(src)
    is_folder = _call(src, lambda: fs.get_file_info(inner).type) == pafs.FileType.Directory
    (local if is_folder else local.parent).mkdir(parents=True, exist_ok=True)  # pyarrow makes only subfolders
    local_fs = pafs.LocalFileSystem()
    _call(src, lambda: pafs.copy_files(inner, str(local), source_filesystem=fs, destination_filesystem=local_fs))
    return local


def local_copy(path: str, scratch: Path) -> Path:
    """``path`` itself when local, else a download of it into ``scratch``."""
    if not is_uri(path):
        return Path(path)
    return download(path, scratch / Path(path.split("://", 1)[1]).name)


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A local folder to render or download into; removed when the ``with`` block ends."""
    return tempfile.TemporaryDirectory(prefix=prefix)


def _read_stream(fs: Any, inner: str) -> str:
    with fs.open_input_stream(inner) as stream:
        return stream.read().decode()


def _write_stream(fs: Any, inner: str, data: bytes) -> None:
    with fs.open_output_stream(inner) as stream:
        stream.write(data)


def _call(path: str, action: Any) -> Any:
    try:
        return action()
    except OSError as err:
        raise StorageError(
            f"cannot reach {path}: {err}; check the URI, the endpoint (AWS_ENDPOINT_URL) and the credentials "
            "in the environment"
        ) from None
