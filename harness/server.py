"""Serve an app with uvicorn on a loopback port in a background thread, for tests with real concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from harness.postgres import free_port


@contextmanager
def serving(app: FastAPI, **config: Any) -> Iterator[str]:
    """``app`` under a real uvicorn on a free loopback port; ``config`` overrides uvicorn's settings (the log's)."""
    port = free_port()
    # proxy_headers off, as `shubbak serve` has it: only SHUBBAK_TRUSTED_PROXIES decides whose header is believed.
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "proxy_headers": False, **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def at_once(base: str, posts: list[tuple[str, dict[str, object] | None, dict[str, str]]]) -> list[httpx.Response]:
    """POST each (path, JSON body or None, headers) from its own thread and client, all released together at a
    barrier so that they reach the server at the same moment; the answers in the order they came back."""
    barrier = threading.Barrier(len(posts))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def contender(path: str, body: dict[str, object] | None, headers: dict[str, str]) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            barrier.wait()
            answer = client.post(path, json=body, headers=headers)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=contender, args=post) for post in posts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers
