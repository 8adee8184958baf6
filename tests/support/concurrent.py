"""Work started in several threads at the same moment, each outcome kept: what it returned or what it raised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(work: Callable[[], Any], times: int = 2, timeout: float = 60.0) -> list[Any]:
    """Run ``work`` in ``times`` threads that start together (a barrier); their results and exceptions, in the
    order they ended. Fails when a thread has not ended within ``timeout`` seconds (a deadlock)."""
    results: list[Any] = []
    start = threading.Barrier(times, timeout=timeout)

    def run() -> None:
        start.wait()
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - the caller looks at it
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not end: a deadlock?"
    return results
