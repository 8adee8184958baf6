"""Document uploads through the API against the ``minio`` SDK's own ``put_object``, to the same S3 server.

An S3-compatible server (moto's server mode, in its own process on loopback) receives the same files two
ways, alternating file by file so that both see the same machine: (1) ``POST /api/cases/{id}/documents`` to
``shubbak serve`` (its own process, MinIO backend pointed at that server), which streams the upload into
``put_object`` while checking, hashing and recording it; (2) the SDK's ``put_object`` called directly from
this process with the file's length. Both from one client at a time, connections kept alive.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench import http
from engine.core.settings import Settings
from harness.api import case_and_clerk
from harness.postgres import free_port
from storage.db import dispose, session_for
from storage.documents import StoreConfig, open_store

KEYS = "bench:bench-secret-key"
MB = 1024 * 1024


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port; yields ``host:port``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start (is moto[server] installed?)") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@dataclass(frozen=True)
class Rates:
    api_mb_s: float
    direct_mb_s: float
    files: int
    size_mb: int
    server_rss_mb: float

    @property
    def ratio(self) -> float:
        return self.api_mb_s / self.direct_mb_s


def _case_and_clerk(settings: Settings) -> tuple[int, dict[str, str]]:
    with session_for(settings.database_url) as session:
        return case_and_clerk(session, settings, "building_permit", "docs_clerk")


def run(settings: Settings, env: dict[str, str], *, files: int, size_mb: int) -> Rates:
    """Upload ``files`` files of ``size_mb`` MB each way after one warm-up each; MB/s of each way."""
    data = b"%PDF-1.7\n" + os.urandom(size_mb * MB - 9)
    case_id, clerk = _case_and_clerk(settings)
    dispose(settings.database_url)
    with s3_server() as endpoint:
        direct: Any = open_store(StoreConfig(url=f"minio://{KEYS}@{endpoint}/bench-direct"))
        direct.prepare()
        server_env = {**env, "SHUBBAK_STORAGE_URL": f"minio://{KEYS}@{endpoint}/bench-api",
                      "SHUBBAK_MAX_DOCUMENT_BYTES": str((size_mb + 1) * MB)}
        port = free_port()
        api_seconds = direct_seconds = 0.0
        with http.server(server_env, port) as proc, httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                                 timeout=120) as client:
            for number in range(files + 1):  # the first of each way warms up and is not counted
                t0 = time.perf_counter()
                r = client.post(f"/api/cases/{case_id}/documents", headers=clerk, data={"kind": "site_survey"},
                                files={"file": ("survey.pdf", data, "application/pdf")})
                t1 = time.perf_counter()
                r.raise_for_status()
                direct.client.put_object(direct.bucket, f"cases/{case_id}/{uuid.uuid4().hex}", io.BytesIO(data),
                                         length=len(data), content_type="application/pdf")
                t2 = time.perf_counter()
                if number:
                    api_seconds += t1 - t0
                    direct_seconds += t2 - t1
            rss = http.rss_mb(proc.pid)
            if proc.stderr is not None:
                proc.stderr.close()
    total = files * size_mb
    return Rates(api_mb_s=total / api_seconds, direct_mb_s=total / direct_seconds, files=files, size_mb=size_mb,
                 server_rss_mb=rss)
