"""A bounded, thread-safe LRU cache that loads each key once.

Concurrent requests for a model that is not loaded yet wait for the one load in
progress (a lock per key) instead of loading it again; the least recently used entry
is dropped when the cache is full. Loads that fail are not cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LoadOnceCache(Generic[V]):
    def __init__(self, max_entries: int = 8) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self.loads = 0
        self.hits = 0

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:  # loaded by the request we waited for
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return self._entries[key]
            try:
                value = load()
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                # Stored before the key's lock is dropped: no second load can start.
                self.loads += 1
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._loading.pop(key, None)
            return value

    def peek(self, key: Hashable) -> V | None:
        """The loaded value, or None without loading (a hit counts as use)."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
