"""Counters calling at the same moment, over real HTTP through uvicorn: every ticket is called exactly once.
And a board that goes away ends its stream without holding the server."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
from sqlmodel import Session, select

from api.app import create_app
from api.routes import queue as queue_routes
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.queue import calls, tickets
from harness.api import Api
from harness.server import at_once, serving
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.queue import QueueCall, QueueTicket

COUNTERS = 6
ROUNDS = 4


def _race(base: str, paths: list[str], headers: dict[str, str]) -> list[httpx.Response]:
    return at_once(base, [(path, None, headers) for path in paths])


def test_counters_calling_at_once_never_share_a_ticket(api: Api, settings: Settings) -> None:
    admin, clerk = api.user("admin"), api.user("front_desk")
    for n in range(10, 10 + COUNTERS):
        r = api.client.put(f"/api/queue/counters/{n}", json={"name": f"Window {n}", "categories": ["permits"]},
                           headers=admin)
        assert r.status_code == 200
    with Session(engine_for(settings.database_url)) as session:
        issued = [tickets.issue(session=session, category_code="permits", priority=p, settings=settings).number
                  for p in ["normal", "elderly", "pregnant", "disabled"] * (COUNTERS * ROUNDS // 4)]
    called: list[str] = []
    with serving(create_app(settings)) as base:
        for _ in range(ROUNDS):
            answers = _race(base, [f"/api/queue/counters/{n}/call-next" for n in range(10, 10 + COUNTERS)], clerk)
            assert [a.status_code for a in answers] == [200] * COUNTERS, [a.text for a in answers]
            numbers = [a.json()["number"] for a in answers]
            assert len(set(numbers)) == COUNTERS
            called += numbers
            with httpx.Client(base_url=base) as client:
                for number in numbers:
                    assert client.post(f"/api/queue/tickets/{number}/done", headers=clerk).status_code == 200
        # Nobody is left: every counter hears so.
        empty = _race(base, [f"/api/queue/counters/{n}/call-next" for n in range(10, 10 + COUNTERS)], clerk)
        assert [a.status_code for a in empty] == [404] * COUNTERS
        # One counter's double click calls once.
        with Session(engine_for(settings.database_url)) as session:
            for _ in range(3):
                tickets.issue(session=session, category_code="permits", priority="normal", settings=settings)
        clicks = _race(base, ["/api/queue/counters/10/call-next"] * COUNTERS, clerk)
        assert Counter(a.status_code for a in clicks) == {200: 1, 409: COUNTERS - 1}
    assert sorted(called) == sorted(issued)
    with Session(engine_for(settings.database_url)) as session:
        calls = Counter(c.ticket_number for c in session.exec(select(QueueCall)))
        assert set(calls.values()) == {1} and len(calls) == COUNTERS * ROUNDS + 1
        statuses = Counter(t.status for t in session.exec(select(QueueTicket)))
        assert statuses == {"done": COUNTERS * ROUNDS, "called": 1, "waiting": 2}


def test_a_closed_board_ends_its_stream(database_url: str, tmp_path: object) -> None:
    settings = make_settings(database_url, tmp_path, queue_board_poll_ms=50)  # type: ignore[arg-type]
    # Streams of earlier tests' servers may still be closing (the count is the process's): start from none.
    settle = time.monotonic() + 10
    while queue_routes.open_streams and time.monotonic() < settle:
        time.sleep(0.05)
    with serving(create_app(settings)) as base:
        before = queue_routes.open_streams
        assert before == 0, "streams of an earlier test never closed"
        with httpx.Client(base_url=base, timeout=10) as client:
            with client.stream("GET", "/api/queue/board/events") as stream:
                # The line iterator is kept: a discarded one is closed at once, and closing it closes the
                # connection (the server would see the board leave before the count below is read).
                lines = stream.iter_lines()
                first = next(lines)
                assert first.startswith("retry: 50")
                assert queue_routes.open_streams == before + 1
            # The client went away: the server notices and the generator ends.
            deadline = time.monotonic() + 10
            while queue_routes.open_streams != before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert queue_routes.open_streams == before
            assert client.get("/healthz").status_code == 200


def test_open_boards_hold_no_server_thread(sqlite_url: str, tmp_path: object) -> None:
    """More open boards than the server has worker threads (40): the API still answers, and a call made
    meanwhile reaches every board."""
    boards = 45  # all from one address: the cap per client (tests/api/test_policy_breaker.py) is raised for this
    settings = make_settings(sqlite_url, tmp_path, queue_board_poll_ms=100,  # type: ignore[arg-type]
                             queue_board_streams_per_client=boards)
    connected = threading.Barrier(boards + 1)
    heard: list[str] = []
    lock = threading.Lock()
    with serving(create_app(settings)) as base:

        def board() -> None:
            with httpx.Client(base_url=base, timeout=30) as client, \
                    client.stream("GET", "/api/queue/board/events") as stream:
                lines = stream.iter_lines()
                next(lines)  # connected
                connected.wait()
                for line in lines:
                    if line.startswith("data: "):
                        with lock:
                            heard.append(line)
                        return

        threads = [threading.Thread(target=board) for _ in range(boards)]
        for t in threads:
            t.start()
        connected.wait(timeout=30)
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.post("/api/queue/tickets", json={"category": "permits"}).status_code == 201
        with Session(engine_for(settings.database_url)) as session:
            calls.call_next(session=session, counter_number=1, actor=Actor("c", frozenset({"front_desk"})),
                            settings=settings)
        for t in threads:
            t.join(timeout=30)
    assert len(heard) == boards and all('"ticket": "P-001"' in line for line in heard)
