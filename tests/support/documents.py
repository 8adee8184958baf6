"""Fixtures for documents: an S3 server on loopback (moto's server mode) and the API on either store.

Loaded by ``tests/conftest.py`` (``pytest_plugins``). The MinIO backend is tested against moto's S3 server
with the real ``minio`` SDK; tests that need it skip with the reason locally and fail under CI=true.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine.core.settings import Settings
from harness.api import Api
from harness.postgres import free_port
from harness.settings import TEST_PROCESSES

BACKENDS = ["filesystem", "minio"]
S3_KEYS = "shubbak-test:shubbak-test-secret"

# Small but real files: each starts with its type's magic bytes.
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200)) + b"\xff\xd9"
TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(32)


class S3Server:
    """moto's S3 server on a free loopback port, in a thread of the test process."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # a test dependency: imported only when a test needs it

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self.port = free_port()
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> str:
        self._server.start()
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str | None]:
    try:
        server = S3Server()
        endpoint = server.start()
    except Exception as exc:  # noqa: BLE001 - any failure means "no S3 server here"
        _reason[0] = f"no S3 server (moto[server]) could be started: {exc}"
        yield None
        return
    try:
        yield endpoint
    finally:
        server.stop()


_reason = ["no S3 server (moto[server]) could be started"]


def minio_url(endpoint: str) -> str:
    """A fresh bucket on the server for each test: the app creates it on start."""
    return f"minio://{S3_KEYS}@{endpoint}/docs-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per document store: a folder, and MinIO (moto's S3 server)."""
    if request.param == "filesystem":
        return f"file://{tmp_path / 'documents'}"
    endpoint = request.getfixturevalue("s3_endpoint")
    if endpoint is None:
        from tests.conftest import missing

        missing(_reason[0])
    return minio_url(endpoint)


@pytest.fixture
def doc_settings(sqlite_settings: Settings, storage_url: str) -> Settings:
    return sqlite_settings.model_copy(update={"storage_url": storage_url})


@pytest.fixture
def doc_api(doc_settings: Settings) -> Iterator[Api]:
    """The API on SQLite with documents in the store of ``storage_url``."""
    with TestClient(create_app(doc_settings)) as client:
        yield Api(client, doc_settings)


def stored_keys(settings: Settings) -> list[str]:
    """Every object in the test's document store (the filesystem store's temporary files included)."""
    from engine.cases.documents import store_for

    store: Any = store_for(settings)
    if store.name == "filesystem":
        root = Path(store.root)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return sorted(o.object_name for o in store.client.list_objects(store.bucket, recursive=True))


def multipart_uploads(settings: Settings) -> list[str]:
    """Unfinished S3 multipart uploads of the test's bucket (none may be left behind by a failure)."""
    from engine.cases.documents import store_for

    store: Any = store_for(settings)
    if store.name == "filesystem":
        return []
    result = store.client._list_multipart_uploads(store.bucket)  # the SDK has no public call for this
    return [u.object_name for u in result.uploads]


def open_papers_case(api: Api) -> dict[str, Any]:
    """Deploys the `papers` test process (it asks for paper documents) and opens one case at the counter."""
    assert api.deploy(TEST_PROCESSES / "papers", api.user("analyst")).status_code == 201
    r = api.open_case("papers", api.user("front_desk"))
    assert r.status_code == 201, r.text
    return dict(r.json())
