"""One object per key for the life of the process (a database's engine, a document store), made once even when
several threads ask for it at the same moment: two pools for one database would each hold their connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class OnePerKey(Generic[K, V]):
    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        found = self._items.get(key)
        if found is None:
            with self._lock:
                found = self._items.get(key)
                if found is None:
                    found = self._items[key] = self._make(key)
        return found

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._items.pop(key, None)
