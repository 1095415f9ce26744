"""A bounded worker pool for CPU-heavy explanations, awaited from an event loop.

Work never runs on the event loop: it runs on at most `workers` threads (numpy, shap,
TensorFlow and sklearn release the GIL in their heavy parts), at most `queue` more
requests wait, and anything beyond that is refused at once with 503 — so a burst of
explanations cannot pile up behind Airflow's own API in the same process. A request that
exceeds `timeout_s` gets 503 with a message; its thread finishes in the background
(Python threads cannot be killed), which is why every explainer also bounds its own work
(rows, samples, pixels, words).

BLAS is limited to one thread per process: the pool is the parallelism, and OpenBLAS's
own threads spin against each other on a loaded 2-core machine (a 5000x72 Gram matrix:
1 ms single-threaded, 220 ms with default threads under load, measured).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from airgenome import settings
from airgenome.errors import Unavailable

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0

_blas_limited = False
_blas_lock = threading.Lock()


def limit_blas_threads() -> None:
    global _blas_limited
    with _blas_lock:
        if _blas_limited:
            return
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


class WorkerPool:
    def __init__(
        self, workers: int | None = None, queue: int | None = None, timeout_s: float | None = None
    ) -> None:
        cpus = os.cpu_count() or 2
        self.workers = int(workers or settings.integer("explain_workers") or max(1, min(4, cpus - 1)))
        configured_queue = settings.integer("explain_queue")
        self.queue = int(queue if queue is not None else configured_queue if configured_queue is not None else 32)
        self.timeout_s = float(timeout_s or settings.number("explain_timeout_s") or DEFAULT_TIMEOUT_S)
        self._executor: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(self.workers + self.queue)
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                limit_blas_threads()
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="airgenome-explain")
            return self._executor

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise Unavailable(
                f"the explainer is busy ({self.workers} running, {self.queue} waiting); retry shortly"
            )
        try:
            future = self._pool().submit(function, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError:
            raise Unavailable(
                f"the explanation took longer than the limit of {self.timeout_s:g} s; "
                "try fewer rows or a smaller input"
            ) from None

    def run_sync(self, function: Callable[..., T], *args: Any) -> T:
        """For callers without an event loop (CLI, benchmarks): same bounds and time limit."""
        if not self._slots.acquire(blocking=False):
            raise Unavailable("the explainer is busy; retry shortly")
        future = self._pool().submit(function, *args)
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=self.timeout_s)
        except TimeoutError:
            raise Unavailable(f"the explanation took longer than the limit of {self.timeout_s:g} s") from None

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
