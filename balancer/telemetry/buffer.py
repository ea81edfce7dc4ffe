"""A bounded, thread-safe buffer between the request path and the flusher."""
from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Buffer(Generic[T]):
    """Appends never block and never grow memory past ``maxlen``.

    When the database is down the buffer fills; the oldest entries are then
    dropped and counted, because proxying must go on from memory.
    """

    def __init__(self, maxlen: int = 100_000):
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._lock = threading.Lock()
        self.dropped = 0

    def append(self, item: T) -> None:
        """Add one entry, dropping the oldest when full."""
        with self._lock:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)

    def extend(self, items: list[T]) -> None:
        """Add several entries."""
        for item in items:
            self.append(item)

    def drain(self, limit: int = 5000) -> list[T]:
        """Take up to ``limit`` of the oldest entries."""
        with self._lock:
            count = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(count)]

    def requeue(self, items: list[T]) -> None:
        """Put back entries a failed flush could not write, oldest first."""
        with self._lock:
            room = self._maxlen - len(self._items)
            keep = items[-room:] if room > 0 else []
            self.dropped += len(items) - len(keep)
            self._items.extendleft(reversed(keep))

    def __len__(self) -> int:
        return len(self._items)
