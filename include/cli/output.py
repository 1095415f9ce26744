"""Progress lines on stderr (so stdout stays parseable), with elapsed time."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def progress(message: str) -> None:
    print(f"[airgenome {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> int:
    print(f"airgenome: error: {message}", file=sys.stderr, flush=True)
    return code
