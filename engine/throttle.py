"""Count failed attempts per key in a sliding window: wrong phone digits per tracking number, wrong
passwords per username. Kept in memory: with several API processes each keeps its own count, so put a rate
limit at the load balancer as well (docs/deployment.md)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class FailureWindow:
    def __init__(self) -> None:
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, key: str, *, limit: int, window_seconds: float) -> bool:
        with self._lock:
            q = self._fails.get(key)
            if not q:
                return False
            horizon = time.monotonic() - window_seconds
            while q and q[0] < horizon:
                q.popleft()
            if not q:
                del self._fails[key]  # forget keys that went quiet, so the map does not grow without end
                return False
            return len(q) >= limit

    def fail(self, key: str) -> None:
        with self._lock:
            self._fails[key].append(time.monotonic())

    def forget(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)
