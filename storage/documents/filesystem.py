"""Documents in a folder: the embedded default. Each object is one file under the folder, at its key."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.documents import Download, ObjectMissing, ObjectStore, Readable, StorageError, check_key, is_key

_INCOMING = ".incoming"


class FilesystemStore(ObjectStore):
    name = "filesystem"

    def __init__(self, root: str, *, chunk_bytes: int) -> None:
        if not root:
            raise StorageError("a file storage URL names a folder: file://var/documents or file:///srv/docs")
        self.root = Path(root)
        self.chunk_bytes = chunk_bytes

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def prepare(self) -> None:
        try:
            (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the documents folder {self.root}: {exc}") from exc

    def put(self, key: str, data: Readable, *, content_type: str, size_hint: int | None = None) -> None:
        # Written beside the store under a temporary name and renamed into place once complete and on disk:
        # a reader never sees half a file, and a failure leaves only the temporary file, which is removed.
        target = self._path(key)
        incoming = self.root / _INCOMING / uuid.uuid4().hex
        incoming.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(incoming, "xb") as out:
                while chunk := data.read(self.chunk_bytes):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise StorageError(f"an object is already stored under {key}; objects are never overwritten")
            os.replace(incoming, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                incoming.unlink()

    def open(self, key: str) -> Download:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the Download
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        size = os.fstat(handle.fileno()).st_size
        return Download(size, self._chunks(handle), handle.close)

    def _chunks(self, handle: BinaryIO) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(self.chunk_bytes):
                yield chunk

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        top = self.root / prefix.strip("/")
        if not top.is_dir():
            return
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if is_key(key):
                    with contextlib.suppress(FileNotFoundError):  # deleted since the walk saw it
                        yield key, datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def abandoned(self, before: datetime) -> int:
        # A put killed before its rename leaves its temporary file in the incoming folder, and only there.
        gone = 0
        folder = self.root / _INCOMING
        for path in folder.iterdir() if folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) < before:
                    path.unlink()
                    gone += 1
        return gone
