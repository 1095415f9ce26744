"""One wait-until helper for tests that watch a live system (instead of hand-written loops)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], *, timeout_s: float, what: str, every_s: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy and return it; fail naming ``what``.

    The deadline is a bound on a hang, never a performance assertion.
    """
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last seen: {last!r})")
        time.sleep(every_s)
