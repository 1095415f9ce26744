"""`LoopShare`: explanations wait their turn while the event loop is busier than their share.

Fake clock, CPU meter and sleep: the loop's "CPU time" is whatever the test says it is.
"""

from __future__ import annotations

import asyncio

from airgenome.explain.share import LoopShare


class Loop:
    """A fake loop thread: wall clock, its CPU time, and a sleep that moves the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cpu = 10.0
        self.busy_while_sleeping = 0.0  # CPU share other work uses while a waiter sleeps
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def thread_cpu(self) -> float:
        return self.cpu

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.cpu += seconds * self.busy_while_sleeping
        self.slept += seconds
        await asyncio.sleep(0)  # let the other coroutines run, as a real sleep does

    def run(self, seconds: float, busy: float) -> None:
        self.now += seconds
        self.cpu += seconds * busy

    def share(self, share: float = 0.5, in_flight: int = 16, **kwargs: float) -> LoopShare:
        return LoopShare(
            share, clock=self.clock, cpu=self.thread_cpu, sleep=self.sleep, in_flight=lambda: in_flight, **kwargs
        )


def test_an_idle_loop_never_waits() -> None:
    loop = Loop()
    gate = loop.share()
    for _ in range(50):
        loop.run(0.01, busy=0.2)
        asyncio.run(gate.turn())
    assert (loop.slept, gate.waited) == (0.0, 0)


def test_a_busy_loop_waits_until_it_is_below_the_share() -> None:
    loop = Loop()
    gate = loop.share(0.5, window_s=0.1)
    for _ in range(20):  # 200 ms at 90 %
        loop.run(0.01, busy=0.9)
        gate.busy()
    assert gate.busy() > 0.5
    loop.busy_while_sleeping = 0.0  # waiting frees the loop
    asyncio.run(gate.turn())
    assert gate.waited == 1
    assert 0 < loop.slept < 0.1  # about until the window's average drops to 50 %
    assert gate.busy() <= 0.5


def test_waiting_is_bounded() -> None:
    loop = Loop()
    gate = loop.share(0.5, max_wait_s=0.3)
    for _ in range(20):
        loop.run(0.01, busy=1.0)
        gate.busy()
    loop.busy_while_sleeping = 1.0  # Airflow itself keeps the loop busy: go ahead after the bound
    asyncio.run(gate.turn())
    assert 0.3 <= loop.slept < 0.31
    assert gate.waited == 1


def test_a_lone_client_never_waits() -> None:
    loop = Loop()
    gate = loop.share(0.5, in_flight=1)  # only this request in the plugin: nobody to make room for
    for _ in range(20):
        loop.run(0.01, busy=1.0)
        asyncio.run(gate.turn())
    assert (loop.slept, gate.waited) == (0.0, 0)


def test_share_one_is_no_limit() -> None:
    loop = Loop()
    gate = loop.share(1.0)
    loop.run(1.0, busy=1.0)
    asyncio.run(gate.turn())
    assert loop.slept == 0.0


def test_waiters_go_in_arrival_order() -> None:
    loop = Loop()
    gate = loop.share(0.5, window_s=0.1)
    for _ in range(20):
        loop.run(0.01, busy=1.0)
        gate.busy()
    order: list[int] = []

    async def request(n: int) -> None:
        await gate.turn()
        order.append(n)
        loop.run(0.005, busy=1.0)  # its explanation keeps the loop busy again

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(5)))

    asyncio.run(main())
    assert order == [0, 1, 2, 3, 4]
    assert gate.waited >= 1


def test_the_plugin_app_counts_its_requests_in_flight() -> None:
    from airgenome.explain.share import plugin_requests
    from airgenome.plugins.app import CountInFlight, create_app

    assert any(m.cls is CountInFlight for m in create_app().user_middleware)
    seen: list[int] = []
    before = plugin_requests.count

    async def inner(scope: object, receive: object, send: object) -> None:
        seen.append(plugin_requests.count)
        if len(seen) == 2:
            raise RuntimeError("the route failed")

    counting = CountInFlight(inner)
    asyncio.run(counting({"type": "http"}, None, None))
    try:
        asyncio.run(counting({"type": "http"}, None, None))
    except RuntimeError:
        pass
    asyncio.run(counting({"type": "lifespan"}, None, None))
    assert seen == [before + 1, before + 1, before]
    assert plugin_requests.count == before
