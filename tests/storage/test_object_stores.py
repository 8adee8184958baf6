"""The document store's contract, run against both backends: a folder, and MinIO (moto's S3 server)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from storage.documents import (
    MIB,
    ObjectMissing,
    ObjectStore,
    StorageError,
    StoreConfig,
    minio_target,
    open_store,
)


@pytest.fixture
def store(storage_url: str) -> ObjectStore:
    found = open_store(StoreConfig(url=storage_url, chunk_bytes=64 * 1024, part_bytes=5 * MIB))
    found.prepare()
    return found


class Failing:
    """A reader that gives ``good`` bytes, then fails as a dropped connection would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("the client went away")
        n = min(self.left, size if size > 0 else 1 << 20, 1 << 20)
        self.left -= n
        return os.urandom(n)


def _read_all(store: ObjectStore, key: str) -> tuple[int, list[bytes]]:
    download = store.open(key)
    try:
        return download.size, list(download)
    finally:
        download.close()


def test_what_is_put_is_read_back_in_chunks(store: ObjectStore) -> None:
    data = os.urandom(300 * 1024)
    store.put("cases/1/small", io.BytesIO(data), content_type="application/pdf")
    size, chunks = _read_all(store, "cases/1/small")
    assert size == len(data)
    assert b"".join(chunks) == data
    assert len(chunks) > 1  # streamed, not read whole


def test_a_file_larger_than_a_part_streams_in_parts(store: ObjectStore) -> None:
    data = os.urandom(12 * MIB)  # three 5 MiB parts on MinIO
    store.put("cases/1/large", io.BytesIO(data), content_type="image/tiff")
    size, chunks = _read_all(store, "cases/1/large")
    assert size == len(data)
    assert b"".join(chunks) == data


@pytest.mark.parametrize("good", [0, 100, 7 * MIB], ids=["at-once", "in-first-part", "in-second-part"])
def test_a_failed_put_leaves_nothing(store: ObjectStore, good: int) -> None:
    with pytest.raises(ConnectionResetError):
        store.put("cases/1/broken", Failing(good), content_type="application/pdf")
    assert not store.exists("cases/1/broken")
    with pytest.raises(ObjectMissing):
        store.open("cases/1/broken")
    if store.name == "filesystem":
        assert [p for p in Path(getattr(store, "root")).rglob("*") if p.is_file()] == []
    else:
        client: Any = getattr(store, "client")
        assert client._list_multipart_uploads(getattr(store, "bucket")).uploads == []


def test_exists_and_delete(store: ObjectStore) -> None:
    store.put("cases/2/a", io.BytesIO(b"%PDF-1.4 x"), content_type="application/pdf")
    assert store.exists("cases/2/a")
    assert not store.exists("cases/2/b")
    store.delete("cases/2/a")
    store.delete("cases/2/a")  # deleting what is gone is not an error
    assert not store.exists("cases/2/a")


def test_reading_a_missing_object_is_object_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        store.open("cases/3/nothing")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "cases/../../x", "Cases/1/A", "cases//1", ""])
def test_keys_that_could_escape_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a valid object key"):
        store.put(key, io.BytesIO(b"x"), content_type="application/pdf")


def test_prepare_creates_the_folder_or_bucket_and_can_run_again(storage_url: str) -> None:
    fresh = open_store(StoreConfig(url=storage_url))
    assert not _ready(fresh)
    fresh.prepare()
    fresh.prepare()
    assert _ready(fresh)


def _ready(store: ObjectStore) -> bool:
    if store.name == "filesystem":
        return Path(getattr(store, "root")).is_dir()
    client: Any = getattr(store, "client")
    return bool(client.bucket_exists(getattr(store, "bucket")))


def test_minio_urls_name_endpoint_keys_bucket_tls_and_region() -> None:
    target = minio_target(StoreConfig(url="minio://AKIA:s%2Fcr%40t@minio.center.local:9000/scans?secure=true"
                                          "&region=me-south-1"))
    assert (target.endpoint, target.bucket, target.access_key, target.secret_key, target.secure, target.region) == (
        "minio.center.local:9000", "scans", "AKIA", "s/cr@t", True, "me-south-1")
    plain = minio_target(StoreConfig(url="minio://k:s@10.0.0.5:9000/docs"))
    assert (plain.secure, plain.region) == (False, None)


def test_keys_from_settings_win_over_the_url() -> None:
    target = minio_target(StoreConfig(url="minio://minio:9000/docs", access_key="from-env", secret_key="secret"))
    assert (target.access_key, target.secret_key, target.endpoint) == ("from-env", "secret", "minio:9000")


@pytest.mark.parametrize("url, words", [
    ("minio://k:s@host:9000", "looks like minio://"),
    ("minio://k:s@host:9000/a/b", "looks like minio://"),
    ("minio://host:9000/docs", "needs an access key"),
    ("s3://k:s@host/docs", "must start with file:// or minio://"),
    ("var/documents", "must start with file:// or minio://"),
    ("file://", "names a folder"),
])
def test_bad_storage_urls_are_refused_with_the_reason(url: str, words: str) -> None:
    with pytest.raises(StorageError, match=words):
        open_store(StoreConfig(url=url))


@pytest.mark.parametrize("hint, parts", [(None, "-2"), (6 * MIB + 100, ""), (40 * MIB, "-2")],
                         ids=["no-hint", "small", "over-single-put"])
def test_minio_sends_a_file_known_to_be_small_in_one_put(s3_endpoint: str | None, hint: int | None,
                                                         parts: str) -> None:
    if s3_endpoint is None:
        from tests.conftest import missing

        missing("no S3 server (moto[server]) could be started")
    from tests.support.documents import minio_url

    store: Any = open_store(StoreConfig(url=minio_url(str(s3_endpoint)), part_bytes=5 * MIB,
                                        single_put_bytes=16 * MIB))
    store.prepare()
    data = os.urandom(6 * MIB)
    store.put("cases/4/hinted", io.BytesIO(data), content_type="application/pdf", size_hint=hint)
    etag = store.client.stat_object(store.bucket, "cases/4/hinted").etag
    assert etag.endswith(parts) and etag.count("-") == (1 if parts else 0)  # a multipart ETag ends in -<parts>
    assert b"".join(_read_all(store, "cases/4/hinted")[1]) == data


def test_the_listing_names_every_key_under_a_prefix_with_when_it_was_written(store: ObjectStore) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(minutes=1)
    for key in ("cases/1/aa", "cases/22/bb", "outputs/1/cc-d"):
        store.put(key, io.BytesIO(b"paper"), content_type="application/pdf")
    listed = dict(store.listing("cases/"))
    assert sorted(listed) == ["cases/1/aa", "cases/22/bb"]
    assert all(before < at < datetime.now(UTC) + timedelta(minutes=1) for at in listed.values())
    assert [key for key, _ in store.listing("outputs/")] == ["outputs/1/cc-d"]
    assert list(store.listing("nothing/")) == []
    store.delete("cases/1/aa")
    assert [key for key, _ in store.listing("cases/")] == ["cases/22/bb"]


def test_a_put_cut_short_leaves_a_temporary_file_that_abandoned_removes_once_old(tmp_path: Path) -> None:
    """A process killed inside ``put`` never reaches its clean-up: its temporary file stays in the incoming
    folder (never listed as a key) until ``abandoned`` removes it, and only once older than the bound given."""
    from datetime import UTC, datetime, timedelta

    store = open_store(StoreConfig(url=f"file://{tmp_path / 'docs'}"))
    store.prepare()
    left = tmp_path / "docs" / ".incoming" / "4f1c"
    left.write_bytes(b"half a scan")
    (tmp_path / "docs" / ".incoming" / "a-folder").mkdir()  # not a write's: left alone, and no error
    assert list(store.listing("")) == []
    assert store.abandoned(datetime.now(UTC) - timedelta(hours=1)) == 0 and left.exists()
    assert store.abandoned(datetime.now(UTC) + timedelta(seconds=5)) == 1 and not left.exists()


def test_the_listing_leaves_out_names_shubbak_does_not_make(store: ObjectStore) -> None:
    """Someone else's object in the bucket (or a file in the folder) is not listed, so nothing acts on it."""
    store.put("cases/9/ab", io.BytesIO(b"paper"), content_type="application/pdf")
    foreign = "cases/9/Scan.PDF"
    found: Any = store
    if store.name == "filesystem":
        (Path(found.root) / foreign).write_bytes(b"put there by hand")
    else:
        found.client.put_object(found.bucket, foreign, io.BytesIO(b"put there by hand"), 17)
    assert [key for key, _ in store.listing("cases/")] == ["cases/9/ab"]
