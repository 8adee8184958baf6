"""Work started in several threads at the same moment, each outcome kept: what it returned or what it raised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session

from storage.db import session_for


def at_once(work: Callable[[], Any], times: int = 2, timeout: float = 60.0) -> list[Any]:
    """Run ``work`` in ``times`` threads that start together (a barrier); their results and exceptions, in the
    order they ended. Fails when a thread has not ended within ``timeout`` seconds (a deadlock)."""
    return each_at_once([work] * times, timeout)


def each_at_once(works: Sequence[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Run each of ``works`` in a thread of its own, all started together (a barrier); their results and
    exceptions, in the order they ended. Fails when a thread has not ended within ``timeout`` seconds."""
    results: list[Any] = []
    start = threading.Barrier(len(works), timeout=timeout)

    def run(work: Callable[[], Any]) -> None:
        start.wait()
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - the caller looks at it
            results.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not end: a deadlock?"
    return results


def in_sessions_at_once(url: str, calls: Sequence[Callable[[Session], Any]],
                        timeout: float = 60.0) -> tuple[list[Any], list[BaseException]]:
    """Each of ``calls`` given a session of its own on the database at ``url``, all started together
    (``each_at_once``): what they returned and what they raised, apart, each in the order they ended."""

    def opened(call: Callable[[Session], Any]) -> Callable[[], Any]:
        def work() -> Any:
            with session_for(url) as session:
                return call(session)
        return work

    ended = each_at_once([opened(call) for call in calls], timeout)
    return ([r for r in ended if not isinstance(r, BaseException)],
            [r for r in ended if isinstance(r, BaseException)])
