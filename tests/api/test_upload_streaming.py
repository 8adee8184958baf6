"""Uploads stream: a 200 MB scan does not grow the server's memory, and a client that goes away mid-upload
leaves nothing behind. Both against a real uvicorn server on 127.0.0.1, on both document stores."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from api.app import create_app
from engine.cases import lifecycle as cases
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.people.users import Actor
from harness.api import case_and_clerk
from harness.postgres import free_port
from harness.process import memory_mb, serve
from harness.server import serving
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import dispose, engine_for
from tests.support.documents import PDF, multipart_uploads, stored_keys

MB = 1024 * 1024
BOUNDARY = "----shubbak-streaming"
ADMIN = Actor("test_admin", frozenset({"admin"}))


def prepare(settings: Settings) -> tuple[int, dict[str, str]]:
    """The papers service deployed, one open case, and a front-desk clerk's token."""
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        processes.deploy(session=session, files=read_package(TEST_PROCESSES / "papers"), actor=ADMIN,
                         settings=settings)
        return case_and_clerk(session, settings, "papers", "clerk")


def form_stream(size: int, digest: Any, chunk: int = MB) -> tuple[int, Iterator[bytes]]:
    """A multipart body carrying a ``size``-byte PDF, generated as it is sent; (length, chunks)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nsite_plan\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = os.urandom(chunk)

    def chunks() -> Iterator[bytes]:
        yield head
        sent = 0
        while sent < size:
            piece = (PDF + block)[:min(chunk, size - sent)] if sent == 0 else block[:min(chunk, size - sent)]
            digest.update(piece)
            sent += len(piece)
            yield piece
        yield tail

    return len(head) + size + len(tail), chunks()


def upload(base: str, case_id: int, headers: dict[str, str], size: int) -> tuple[httpx.Response, str]:
    digest = hashlib.sha256()
    length, body = form_stream(size, digest)
    r = httpx.post(f"{base}/api/cases/{case_id}/documents", content=body, timeout=300, headers={
        **headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(length)})
    return r, digest.hexdigest()


@pytest.mark.slow
def test_a_200_mb_upload_grows_the_server_by_less_than_50_mb(storage_url: str, tmp_path: Path,
                                                           sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "server.db")
    settings = make_settings(f"sqlite:///{tmp_path / 'server.db'}", tmp_path, storage_url=storage_url,
                             max_document_bytes=256 * MB)
    case_id, clerk = prepare(settings)
    dispose(settings.database_url)
    env = {"SHUBBAK_DATABASE_URL": settings.database_url, "SHUBBAK_SECRET_KEY": settings.secret_key,
           "SHUBBAK_ENVIRONMENT": "test", "SHUBBAK_TIMER_TICK_SECONDS": "0", "SHUBBAK_VAR_DIR": str(tmp_path),
           "SHUBBAK_STORAGE_URL": storage_url, "SHUBBAK_MAX_DOCUMENT_BYTES": str(256 * MB)}
    port = free_port()
    with serve(env, port) as proc:
        base = f"http://127.0.0.1:{port}"
        for _ in range(2):  # warm-up: code paths, connection pools, the allocator's arenas
            r, _sha = upload(base, case_id, clerk, 16 * MB)
            assert r.status_code == 201, r.text
        before = memory_mb(proc.pid)
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from here
        r, sha = upload(base, case_id, clerk, 200 * MB)
        growth = memory_mb(proc.pid, "VmHWM") - before
    assert r.status_code == 201, r.text
    assert (r.json()["size"], r.json()["sha256"], r.json()["version"]) == (200 * MB, sha, 3)
    print(f"\n200 MB upload ({storage_url.split(':')[0]}): server RSS {before:.0f} MB before, peak +{growth:.1f} MB")
    assert growth < 50


def test_a_client_that_goes_away_mid_upload_leaves_nothing(doc_settings: Settings) -> None:
    settings = doc_settings.model_copy(update={"document_part_bytes": 5 * MB, "max_document_bytes": 128 * MB})
    case_id, clerk = prepare(settings)
    length, body = form_stream(64 * MB, hashlib.sha256())
    with serving(create_app(settings)) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            _send_part_of(sock, host, case_id, clerk, length, body)
            _wait_for(lambda: _in_progress(settings), "the server to start storing the upload")
        _wait_for(lambda: not _in_progress(settings) and stored_keys(settings) == [],
                  "the server to remove the partial upload")
    with Session(engine_for(settings.database_url)) as session:
        assert cases.ready_tasks(session, case_id)[0].name == "register"
    assert "document_uploaded" not in _events(settings, case_id)


def _send_part_of(sock: socket.socket, host: str, case_id: int, clerk: dict[str, str], length: int,
                  body: Iterator[bytes]) -> None:
    sock.sendall((f"POST /api/cases/{case_id}/documents HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: {clerk['Authorization']}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                  f"Content-Length: {length}\r\n\r\n").encode())
    sent = 0
    for chunk in body:  # 12 MB: more than two of MinIO's parts, a partial file on disk
        sock.sendall(chunk)
        sent += len(chunk)
        if sent > 12 * MB:
            return


def _in_progress(settings: Settings) -> bool:
    if stored_keys(settings):  # the filesystem store's temporary file
        return True
    return bool(multipart_uploads(settings))


def _wait_for(check: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _events(settings: Settings, case_id: int) -> list[str]:
    from sqlmodel import col, select

    from storage.models.audit import AuditEvent

    with Session(engine_for(settings.database_url)) as session:
        return [e.kind for e in session.exec(select(AuditEvent).where(col(AuditEvent.case_id) == case_id))]
