"""Where the scanned papers of cases are kept: one small interface, two backends.

``file://FOLDER`` keeps them in a folder (the embedded default of ``make run``); ``minio://…`` keeps them in a
MinIO (or any S3-compatible) bucket. Objects are written once under keys the engine makes up
(``cases/<case id>/<random hex>``), never overwritten, and read back as a stream of chunks. ``put`` streams:
the data is pulled from a reader a chunk at a time, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from storage.once import OnePerKey

MIB = 1024 * 1024
_KEY = re.compile(r"^[a-z0-9]+(/[a-z0-9_-]+)*$")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class StorageError(Exception):
    """The store could not do what was asked (unreachable, refused, misconfigured)."""


class ObjectMissing(StorageError):
    """No object under that key."""


@dataclass(frozen=True)
class StoreConfig:
    """How to reach a store; built from the settings by ``engine.cases.documents.store_for``."""

    url: str
    access_key: str | None = None
    secret_key: str | None = None
    ca_file: str | None = None
    chunk_bytes: int = MIB
    part_bytes: int = 8 * MIB
    single_put_bytes: int = 16 * MIB


class Download:
    """An object being read: its size, and its bytes as an iterator of chunks. Close it when done.

    If nobody iterates or closes it (a client that goes away before the response starts), it is closed when it
    is collected: an open file or connection is never left to the garbage collector's warning."""

    def __init__(self, size: int, chunks: Iterator[bytes], close: object) -> None:
        self.size = size
        self._chunks = chunks
        self._finalizer = weakref.finalize(self, close) if callable(close) else None

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs the close once, whoever calls first


def sha256_of(download: Download) -> str:
    """The SHA-256 of everything ``download`` holds, read to its end; the download is closed."""
    digest = hashlib.sha256()
    try:
        for chunk in download:
            digest.update(chunk)
    finally:
        download.close()
    return digest.hexdigest()


class ObjectStore(ABC):
    name: str

    @abstractmethod
    def prepare(self) -> None:
        """Make the store ready to use (create the folder or bucket if missing); raises StorageError."""

    @abstractmethod
    def put(self, key: str, data: Readable, *, content_type: str, size_hint: int | None = None) -> None:
        """Write ``data`` (read until it returns b"") under ``key``. On any error nothing stays stored.

        ``size_hint`` is an upper bound of the size when one is known (the request's length): a store may use
        it to send a small file in one piece."""

    @abstractmethod
    def open(self, key: str) -> Download:
        """Start reading ``key``; raises ObjectMissing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it is not there."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every key under ``prefix`` (``cases/``) with when it was written (aware, UTC), in no set order."""

    @abstractmethod
    def abandoned(self, before: datetime) -> int:
        """Remove what writes cut short before ``before`` left behind (a process killed in ``put``); how many."""


def is_key(key: str) -> bool:
    """Whether ``key`` is one Shubbak could have made (what a listing reports; anything else is not its own)."""
    return bool(_KEY.match(key)) and len(key) <= 255


def check_key(key: str) -> str:
    """Keys are made by Shubbak, never by users; anything else (``..``, absolute paths) is a bug."""
    if not _KEY.match(key) or len(key) > 255:
        raise ValueError(f"not a valid object key: {key!r}")
    return key


def open_store(config: StoreConfig) -> ObjectStore:
    scheme = config.url.split("://", 1)[0].lower() if "://" in config.url else ""
    if scheme == "file":
        from storage.documents.filesystem import FilesystemStore

        return FilesystemStore(config.url[len("file://"):], chunk_bytes=config.chunk_bytes)
    if scheme == "minio":
        from storage.documents.minio_store import MinioStore

        return MinioStore(minio_target(config), config)
    raise StorageError("SHUBBAK_STORAGE_URL must start with file:// or minio://")


@dataclass(frozen=True)
class MinioTarget:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    secure: bool
    region: str | None


def minio_target(config: StoreConfig) -> MinioTarget:
    """``minio://KEY:SECRET@HOST:PORT/BUCKET?secure=true&region=R`` (the settings' keys win over the URL's)."""
    parts = urlsplit(config.url)
    query = parse_qs(parts.query)
    bucket = parts.path.strip("/")
    access = config.access_key or unquote(parts.username or "")
    secret = config.secret_key or unquote(parts.password or "")
    if not parts.hostname or not bucket or "/" in bucket:
        raise StorageError("a MinIO storage URL looks like minio://KEY:SECRET@HOST:9000/BUCKET")
    if not access or not secret:
        raise StorageError("MinIO needs an access key and a secret key (in the URL or SHUBBAK_STORAGE_*_KEY)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    endpoint = f"{host}:{parts.port}" if parts.port else host
    secure = query.get("secure", ["false"])[-1].lower() in {"1", "true", "yes"}
    return MinioTarget(endpoint=endpoint, bucket=bucket, access_key=access, secret_key=secret, secure=secure,
                       region=query.get("region", [None])[-1])


_stores: OnePerKey[StoreConfig, ObjectStore] = OnePerKey(open_store)


def store_for(config: StoreConfig) -> ObjectStore:
    """One store (and connection pool) per configuration for the life of the process."""
    return _stores.get(config)
