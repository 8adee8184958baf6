"""Documents in a MinIO bucket (or any S3-compatible server), through the ``minio`` SDK.

The only module of Shubbak that imports ``minio``. Uploads stream with ``put_object(length=-1)``: the SDK
reads one part at a time from the reader and sends it (as a single PUT when the whole file fits in one part,
as a multipart upload otherwise, which the SDK aborts if anything fails). A file whose request is known to
be small is sent as one part: on a loopback S3 server the four or more requests of a multipart upload cost
more than the bytes.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import urllib3
from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from storage.documents import (
    Download,
    MinioTarget,
    ObjectMissing,
    ObjectStore,
    Readable,
    StorageError,
    StoreConfig,
    check_key,
    is_key,
)

_MISSING = {"NoSuchKey", "NoSuchObject"}


def _http_client(ca_file: str) -> urllib3.PoolManager:
    """What the SDK uses by default, trusting a private certificate authority."""
    timeout = 5 * 60
    retries = urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])
    context = ssl.create_default_context(cafile=ca_file)
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout, read=timeout), maxsize=10,
                               ssl_context=context, retries=retries)


class MinioStore(ObjectStore):
    name = "minio"

    def __init__(self, target: MinioTarget, config: StoreConfig) -> None:
        self.target = target
        self.bucket = target.bucket
        self.config = config
        self.client = Minio(target.endpoint, access_key=target.access_key, secret_key=target.secret_key,
                            secure=target.secure, region=target.region,
                            http_client=_http_client(config.ca_file) if target.secure and config.ca_file else None)

    def prepare(self) -> None:
        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:  # made by a twin process
                raise StorageError(f"MinIO refused to prepare bucket {self.bucket}: {exc.code}") from exc
        except (HTTPError, OSError) as exc:
            raise StorageError(f"MinIO at {self.target.endpoint} cannot be reached: {exc}") from exc

    def put(self, key: str, data: Readable, *, content_type: str, size_hint: int | None = None) -> None:
        check_key(key)
        part = self.config.part_bytes
        if size_hint is not None and size_hint <= self.config.single_put_bytes:
            # A file known to be small goes as one PUT, not a multipart upload of four requests or more.
            part = max(part, size_hint)
        try:
            # One part at a time: the SDK's parallel uploads leave their threads waiting forever when the
            # upload fails midway (a client gone, a file over the limit), and the parts would pile up in memory.
            self.client.put_object(self.bucket, key, data, length=-1, content_type=content_type,  # type: ignore[arg-type]
                                   part_size=part, num_parallel_uploads=1)
        except BaseException:
            # The SDK aborts a failed multipart upload; a failed single PUT stores nothing. Removing the key
            # as well covers a failure after the server stored the object but before we heard so.
            with contextlib.suppress(Exception):
                self.client.remove_object(self.bucket, key)
            raise

    def open(self, key: str) -> Download:
        try:
            response: Any = self.client.get_object(self.bucket, check_key(key))
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectMissing(key) from exc
            raise StorageError(f"MinIO refused to read {key}: {exc.code}") from exc

        def close() -> None:
            response.close()
            response.release_conn()

        size = int(response.headers.get("Content-Length", "0"))
        return Download(size, response.stream(self.config.chunk_bytes), close)

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, check_key(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, check_key(key))
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise
        return True

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        for found in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            # Only keys Shubbak makes: an object someone else put in the bucket is none of its business.
            if found.object_name and found.last_modified and not found.is_dir and is_key(found.object_name):
                yield found.object_name, found.last_modified

    def abandoned(self, before: datetime) -> int:
        # A killed multipart upload leaves parts that are no object; the server aborts them itself (MinIO after a
        # day by default; on another S3 store, a bucket lifecycle rule AbortIncompleteMultipartUpload does).
        return 0
