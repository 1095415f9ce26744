"""The evaluation store locked by another writer, or unreachable: writes wait it out, within
bounds, and give up with a clear error; a run is stored whole or not at all, and never twice.

Real SQLite, a real second connection holding ``BEGIN EXCLUSIVE``, and a database whose folder
disappears (as an unmounted volume would) and comes back. The retry's sleep and clock are
injected (`WriteRetry`), so nothing waits on wall time: each "sleep" advances a fake clock,
and the fault ends at a chosen sleep.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airgenome.errors import Unavailable
from airgenome.evaluations import FAIL, PASS, EvaluationRunRecord, TargetModel, TaskRecord
from airgenome.evaluations.records import ExpectationRecord
from airgenome.evaluations.sql_backend import SqlEvaluationStore, WriteRetry

BUSY_TIMEOUT_MS = 5  # SQLite's own wait per attempt; the retry's pauses are the fake clock's


@dataclass
class FakeClock:
    """`WriteRetry`'s sleep and clock: sleeping advances the time, and may end the fault."""

    now: float = 1000.0
    pauses: list[float] = field(default_factory=list)
    actions: dict[int, Callable[[], None]] = field(default_factory=dict)  # n-th sleep -> action

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        action = self.actions.get(len(self.pauses))
        if action is not None:
            action()

    def clock(self) -> float:
        return self.now

    def retry(self, **bounds: float) -> WriteRetry:
        return WriteRetry(sleep=self.sleep, clock=self.clock, jitter=lambda: 1.0, **bounds)  # type: ignore[arg-type]


def _run(run_id: str) -> EvaluationRunRecord:
    expectation = ExpectationRecord(recipe="accuracy", operator=">=", var="accuracy", value=0.93,
                                    expected=0.9, expected_var=None, status=PASS)
    return EvaluationRunRecord(
        id=run_id,
        name="faults/accuracy",
        status=FAIL,
        created_at=datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC),
        target_model=TargetModel(id="forest~1/3", name="/faults/forest", version="3"),
        tasks=tuple(
            TaskRecord(position=i, name=f"task-{i}", kind="task", status=PASS if i else FAIL,
                       metrics={"accuracy": 0.9 + i / 100}, expectations=(expectation,))
            for i in range(3)
        ),
        version_name="v3",
    )


def _rows(database: Path, run_id: str) -> tuple[int, int]:
    """(runs, tasks) stored under this id, read by an independent connection."""
    with sqlite3.connect(database) as reader:
        runs = reader.execute("SELECT count(*) FROM airgenome_evaluation_runs WHERE id = ?", (run_id,)).fetchone()[0]
        tasks = reader.execute("SELECT count(*) FROM airgenome_evaluation_tasks WHERE run_id = ?", (run_id,)).fetchone()[0]
    return int(runs), int(tasks)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "volume" / "evaluations.db"


@pytest.fixture
def lock(database: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """Another writer: `lock()` opens a connection that holds SQLite's write lock until released."""
    holders: list[sqlite3.Connection] = []

    def take() -> sqlite3.Connection:
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        holders.append(holder)
        return holder

    yield take
    for holder in holders:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def _release(holder: sqlite3.Connection) -> Callable[[], None]:
    return lambda: holder.execute("ROLLBACK")


def test_a_write_waits_out_another_writers_lock_and_lands_whole(
    database: Path, lock: Callable[[], sqlite3.Connection]
) -> None:
    fake = FakeClock()
    store = SqlEvaluationStore(f"sqlite:///{database}", retry=fake.retry(), busy_timeout_ms=BUSY_TIMEOUT_MS)
    fake.actions[3] = _release(lock())
    run = _run("locked-then-free")

    store.save(run)

    assert fake.pauses == [0.1, 0.2, 0.4]  # exponential backoff (jitter pinned to 1)
    assert store.get(run.id) == run  # every task, metric and expectation
    assert _rows(database, run.id) == (1, 3)


def test_a_lock_held_too_long_is_a_clear_error_nothing_is_stored_and_the_retry_lands(
    database: Path, lock: Callable[[], sqlite3.Connection]
) -> None:
    fake = FakeClock()
    store = SqlEvaluationStore(
        f"sqlite:///{database}", retry=fake.retry(attempts=5), busy_timeout_ms=BUSY_TIMEOUT_MS
    )
    holder = lock()
    run = _run("locked-too-long")

    with pytest.raises(Unavailable) as raised:
        store.save(run)

    assert raised.value.status_code == 503
    assert raised.value.message == (
        f"evaluation store sqlite:///{database} is locked (database is locked); gave up after 5 attempts "
        "in 1.5s; nothing of this write was stored"
    )
    assert fake.pauses == [0.1, 0.2, 0.4, 0.8]
    assert _rows(database, run.id) == (0, 0)  # not half a run

    holder.execute("ROLLBACK")  # the other writer finishes; the step's retry saves again
    store.save(run)
    assert store.get(run.id) == run
    assert _rows(database, run.id) == (1, 3)


def test_the_total_wait_is_bounded_by_the_deadline(database: Path, lock: Callable[[], sqlite3.Connection]) -> None:
    fake = FakeClock()
    store = SqlEvaluationStore(
        f"sqlite:///{database}", retry=fake.retry(attempts=100, deadline_s=1.0), busy_timeout_ms=BUSY_TIMEOUT_MS
    )
    lock()
    with pytest.raises(Unavailable, match=r"gave up after 4 attempts in 0\.7s"):
        store.save(_run("deadline"))
    assert fake.pauses == [0.1, 0.2, 0.4]  # the next pause (0.8) would pass the 1 s deadline


def test_an_unreachable_store_is_retried_until_it_is_back(database: Path) -> None:
    volume, away = database.parent, database.parent.with_name("volume.away")
    fake = FakeClock(actions={2: lambda: away.rename(volume)})
    store = SqlEvaluationStore(f"sqlite:///{database}", retry=fake.retry(), busy_timeout_ms=BUSY_TIMEOUT_MS)
    store.engine.dispose()  # no open connection survives the volume going away
    volume.rename(away)
    run = _run("unreachable-then-back")

    store.save(run)

    assert fake.pauses == [0.1, 0.2]
    assert store.get(run.id) == run
    assert _rows(database, run.id) == (1, 3)


def test_an_unreachable_store_gives_up_with_a_clear_error(database: Path) -> None:
    volume = database.parent
    fake = FakeClock()
    store = SqlEvaluationStore(f"sqlite:///{database}", retry=fake.retry(attempts=3), busy_timeout_ms=BUSY_TIMEOUT_MS)
    store.engine.dispose()
    volume.rename(volume.with_name("volume.away"))

    with pytest.raises(Unavailable) as raised:
        store.save(_run("unreachable"))

    assert raised.value.message == (
        f"evaluation store sqlite:///{database} is unreachable (unable to open database file); "
        "gave up after 3 attempts in 0.3s; nothing of this write was stored"
    )


def test_a_retry_after_a_commit_whose_answer_was_lost_stores_the_run_once(database: Path) -> None:
    """The commit reached the database, then the connection failed: the retry finds the run."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    fake = FakeClock()
    store = SqlEvaluationStore(f"sqlite:///{database}", retry=fake.retry(), busy_timeout_ms=BUSY_TIMEOUT_MS)
    failures: list[str] = []

    def lose_the_answer(session: Session) -> None:
        if not failures:
            failures.append("after COMMIT")
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    event.listen(Session, "after_commit", lose_the_answer)
    try:
        run = _run("committed-twice?")
        store.save(run)
    finally:
        event.remove(Session, "after_commit", lose_the_answer)

    assert failures == ["after COMMIT"] and fake.pauses == [0.1]
    assert store.get(run.id) == run
    assert _rows(database, run.id) == (1, 3)
