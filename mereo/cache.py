"""A feature cache shared by all tools and all questions of an agent.

Keys are ``(namespace, content hash)``; a namespace is usually ``"<family>:<backend>"`` so two
backends never share features, while every call of one backend on the same pixels does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class FeatureCache:
    """A thread-safe LRU cache of image features keyed by ``(namespace, key)``.

    Args:
        max_items: entries kept before the least recently used is dropped.
    """

    def __init__(self, max_items: int = 256):
        self.max_items = max_items
        self._data: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, namespace: str, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        """Return ``(value, hit)``; ``compute()`` runs only on a miss."""
        k = (namespace, key)
        with self._lock:
            if k in self._data:
                self._data.move_to_end(k)
                self.hits += 1
                return self._data[k], True
        value = compute()
        self.put(namespace, key, value)
        return value, False

    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store a value computed elsewhere (e.g. one of a batch) as if ``get_or_compute`` had missed."""
        k = (namespace, key)
        with self._lock:
            self._data[k] = value
            self._data.move_to_end(k)
            self.misses += 1
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)

    def __contains__(self, k: tuple[str, str]) -> bool:
        return k in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


_DEFAULT = FeatureCache()


def default_cache() -> FeatureCache:
    """The process-wide cache used when a tool is built without one."""
    return _DEFAULT
