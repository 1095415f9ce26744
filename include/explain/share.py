"""Explanations keep to a share of the event loop they share with Airflow's own API.

Inside Airflow's API server the plugin's routes run on the same event loop (and GIL) as
Airflow's REST API and UI. Sixteen clients asking for explanations back to back keep that
loop busy all the time, and every Airflow request queues behind theirs (measured:
`/api/v2/dags` p95 12-20x its idle value). `LoopShare.turn()` is awaited by each
explanation request before it starts. While other plugin requests are in flight
(`plugin_requests`, counted by the plugin app's outermost middleware) and the loop thread
has been busy for more than ``share`` of the last ``window_s`` seconds, requests wait their
turn, first come first served, without using the CPU. Clients wait for their answers, so the
explanation traffic settles at about that share and Airflow's requests find the loop free
the rest of the time. A lone client never waits, nor does any request on a lightly used
server; a request waits at most ``max_wait_s`` (then goes ahead: slower, never an error).

"Busy" is the loop thread's demand for a CPU: its time on a CPU plus its time waiting for
one in the run queue (Linux: ``/proc/self/task/<tid>/schedstat``, ~2 us a read; elsewhere
its CPU time). CPU time alone under-reads a saturated loop on a machine whose CPUs are
shared: a loop that always has work but gets 40 % of a core would look 40 % busy.

The standalone explainer shares its loop with nothing and does not use this.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from collections.abc import Awaitable, Callable

_schedstat = threading.local()


class InFlight:
    """Requests the plugin app is serving right now (its middleware counts them)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


plugin_requests = InFlight()


def thread_demand() -> float:
    """Seconds the calling thread has run or waited to run (its CPU time where Linux's
    schedstat is not available)."""
    fd = getattr(_schedstat, "fd", None)
    if fd is None:
        try:
            fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            fd = -1
        _schedstat.fd = fd
    if fd >= 0:
        try:
            ran, waited, _ = os.pread(fd, 128, 0).split()
            return (int(ran) + int(waited)) / 1e9
        except (OSError, ValueError):
            pass
    return time.thread_time()


class LoopShare:
    def __init__(
        self,
        share: float,
        *,
        window_s: float = 0.1,
        tick_s: float = 0.002,
        max_wait_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = thread_demand,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        in_flight: Callable[[], int] = plugin_requests,
    ) -> None:
        self.share = share
        self.window_s = window_s
        self.tick_s = tick_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._cpu = cpu  # demand of the calling thread: turn() runs on the loop's thread
        self._sleep = sleep
        self._in_flight = in_flight  # this request included
        self._samples: collections.deque[tuple[float, float]] = collections.deque()
        self._lock: asyncio.Lock | None = None
        self.waited = 0  # requests that had to wait (status, tests)

    def busy(self) -> float:
        """The loop thread's CPU demand over wall time since the oldest sample in the window."""
        now, cpu = self._clock(), self._cpu()
        samples = self._samples
        samples.append((now, cpu))
        while len(samples) > 1 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        then, cpu_then = samples[0]
        span = now - then
        if span < self.window_s / 4:  # too short to say: not busy
            return 0.0
        return (cpu - cpu_then) / span

    async def turn(self) -> None:
        if self.share >= 1:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()  # made on the loop that uses it
        if not self._lock.locked() and (self._in_flight() <= 1 or self.busy() <= self.share):
            return
        async with self._lock:  # one waiter polls; the others queue behind it in order
            deadline = self._clock() + self.max_wait_s
            waited = False
            while self._in_flight() > 1 and self.busy() > self.share and self._clock() < deadline:
                waited = True
                await self._sleep(self.tick_s)
            self.waited += waited
