"""A server that is told to stop (a restart, a deploy) stops within its grace time even while display boards
hold their server-sent event streams open: a center's boards are always open."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from harness.postgres import free_port
from harness.process import serve


def test_an_open_board_does_not_hold_the_server_when_it_stops(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {"SHUBBAK_DATABASE_URL": sqlite_url, "SHUBBAK_VAR_DIR": str(tmp_path),
           "SHUBBAK_STORAGE_URL": f"file://{tmp_path / 'documents'}", "SHUBBAK_ENVIRONMENT": "test",
           "SHUBBAK_QUEUE_BOARD_STREAM_SECONDS": "120", "SHUBBAK_SHUTDOWN_GRACE_SECONDS": "1"}
    opened = threading.Event()

    def board() -> None:
        try:
            with httpx.stream("GET", f"http://127.0.0.1:{port}/api/queue/board/events", timeout=150) as stream:
                for _ in stream.iter_text():
                    opened.set()
        except httpx.HTTPError:
            pass  # the server ended the stream when it stopped: what this test wants

    with serve(env, port) as proc:
        reader = threading.Thread(target=board, daemon=True)
        reader.start()
        assert opened.wait(20), "the board's stream did not open"
        started = time.monotonic()
        proc.terminate()
        proc.wait(timeout=60)
        took = time.monotonic() - started
    reader.join(timeout=10)
    assert took < 15, f"the server took {took:.0f} s to stop with a board open"
    assert not reader.is_alive()
