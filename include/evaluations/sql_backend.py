"""The SQL evaluation store (SQLAlchemy): SQLite embedded, Postgres/MySQL in production.

Two tables: one row per run (the searchable columns), one row per task or prototype
(metrics and expectations as JSON). A run is written in ONE transaction, so a reader
sees all of it or none of it.

SQLite with many writers (parallel steps are separate processes): WAL journal (readers
never block the writer), `busy_timeout` (a writer waits for the lock instead of failing),
`BEGIN IMMEDIATE` for writes (the write lock is taken up front, so two writers never
deadlock upgrading read locks), and a bounded retry with backoff should SQLite still
answer "database is locked". `synchronous=FULL`: a committed run survives power loss.

The same bounded retry (`WriteRetry`: attempts, a total deadline, exponential backoff with
jitter; its sleep and clock injectable) covers a store that cannot be reached (a database
file whose volume is gone, a server refusing connections). A retried save that finds its run
already stored (the earlier attempt committed, then lost its connection) does not add it
twice. Giving up raises `Unavailable` naming the store (password redacted), the cause and the
attempts; nothing of that write is stored, and the step fails so that Airflow retries it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    or_,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.pool import StaticPool

from airgenome.errors import NotFound, Unavailable
from airgenome.evaluations.records import (
    EvaluationPage,
    EvaluationRunRecord,
    EvaluationSummary,
    ExpectationRecord,
    TargetModel,
    TaskRecord,
)
from airgenome.evaluations.store import EvaluationQuery, EvaluationStore

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
WRITE_ATTEMPTS = 8
WRITE_DEADLINE_S = 120.0
_WRITE = "airgenome_write"  # execution option: this transaction writes


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "airgenome_evaluation_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    version_name: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    model_id: Mapped[str | None] = mapped_column(String(256))
    model_name: Mapped[str | None] = mapped_column(String(512))
    model_version: Mapped[str | None] = mapped_column(String(256))
    task_count: Mapped[int] = mapped_column(Integer)
    prototype_count: Mapped[int] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text)  # JSON: code, parameters, pipeline context

    tasks: Mapped[list[TaskRow]] = relationship(
        back_populates="run", order_by="TaskRow.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_airgenome_eval_created", "created_at", "id"),
        Index("ix_airgenome_eval_model_id", "model_id", "created_at"),
        Index("ix_airgenome_eval_model_name", "model_name", "model_version", "created_at"),
        Index("ix_airgenome_eval_name", "name", "created_at"),
        Index("ix_airgenome_eval_status", "status", "created_at"),
    )


class TaskRow(Base):
    __tablename__ = "airgenome_evaluation_tasks"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("airgenome_evaluation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # JSON: refs, segment, metrics, expectations

    run: Mapped[RunRow] = relationship(back_populates="tasks")


_DETAIL_FIELDS = (
    "code",
    "parameters",
    "application",
    "pipeline_name",
    "pipeline_stage",
    "pipeline_run_id",
    "input_modality",
    "framework",
)


def _to_row(run: EvaluationRunRecord) -> RunRow:
    summary = run.summary()
    row = RunRow(
        id=run.id,
        name=run.name,
        version_name=run.version_name,
        status=run.status,
        created_at=run.created_at.astimezone(UTC).replace(tzinfo=None),
        model_id=run.target_model.id,
        model_name=run.target_model.name,
        model_version=run.target_model.version,
        task_count=summary.task_count,
        prototype_count=summary.prototype_count,
        details=json.dumps({field: getattr(run, field) for field in _DETAIL_FIELDS}),
    )
    row.tasks = [
        TaskRow(
            position=task.position,
            parent=task.parent,
            kind=task.kind,
            name=task.name,
            status=task.status,
            error=task.error,
            body=json.dumps(
                {
                    "prototypeRef": task.prototype_ref,
                    "dataRef": task.data_ref,
                    "segment": task.segment,
                    "metrics": task.metrics,
                    "expectations": [e.to_dict() for e in task.expectations],
                    "pictures": [dict(p) for p in task.pictures],
                }
            ),
        )
        for task in run.tasks
    ]
    return row


def _summary(row: RunRow) -> EvaluationSummary:
    return EvaluationSummary(
        id=row.id,
        name=row.name,
        version_name=row.version_name,
        status=row.status,
        created_at=row.created_at.replace(tzinfo=UTC),
        target_model=TargetModel(id=row.model_id, name=row.model_name, version=row.model_version),
        task_count=row.task_count,
        prototype_count=row.prototype_count,
    )


def _task(row: TaskRow) -> TaskRecord:
    body = json.loads(row.body)
    return TaskRecord(
        position=row.position,
        name=row.name,
        kind="prototype" if row.kind == "prototype" else "task",
        status=row.status,
        parent=row.parent,
        prototype_ref=body["prototypeRef"],
        data_ref=body["dataRef"],
        segment=body["segment"],
        metrics=body["metrics"],
        expectations=tuple(ExpectationRecord.from_dict(e) for e in body["expectations"]),
        error=row.error,
        pictures=tuple(body.get("pictures") or ()),  # absent in runs stored before pictures
    )


def _record(row: RunRow) -> EvaluationRunRecord:
    summary = _summary(row)
    details = json.loads(row.details)
    return EvaluationRunRecord(
        id=row.id,
        name=row.name,
        status=row.status,
        created_at=summary.created_at,
        target_model=summary.target_model,
        tasks=tuple(_task(task) for task in row.tasks),
        version_name=row.version_name,
        **{field: details.get(field) for field in _DETAIL_FIELDS},
    )


def _is_locked(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


# What drivers say when the database cannot be reached at all (SQLite, psycopg, PyMySQL).
_UNREACHABLE = (
    "unable to open database file",
    "disk i/o error",
    "could not connect",
    "connection refused",
    "server closed the connection",
    "connection reset",
    "can't connect",
    "lost connection",
    "timeout expired",
)


def _transient(error: OperationalError) -> str | None:
    """``"locked"`` or ``"unreachable"`` when waiting may help; None for anything else."""
    if _is_locked(error):
        return "locked"
    text = str(error.orig).lower()
    if error.connection_invalidated or any(phrase in text for phrase in _UNREACHABLE):
        return "unreachable"
    return None


@dataclass(frozen=True)
class WriteRetry:
    """How a write waits out a locked or unreachable store: at most `attempts` tries and
    `deadline_s` in all, pausing ``first_delay_s * 2**(n-1)`` (capped at `max_delay_s`,
    times a jitter in [0.5, 1.5)) between tries. `sleep`, `clock` and `jitter` are injectable,
    so tests neither wait nor depend on chance."""

    attempts: int = WRITE_ATTEMPTS
    deadline_s: float = WRITE_DEADLINE_S
    first_delay_s: float = 0.1
    max_delay_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.5), repr=False)

    def pause(self, attempt: int) -> float:
        return min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s) * self.jitter()


def _sqlite_engine(uri: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    url = make_url(uri)
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # One shared connection for an in-memory database (each new one would be empty).
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by us (below), not by the driver's implicit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writes = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


class SqlEvaluationStore(EvaluationStore):
    """Evaluation runs in a SQL database reached through SQLAlchemy."""

    def __init__(
        self, uri: str, *, retry: WriteRetry | None = None, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self.uri = uri
        self.retry = retry or WriteRetry()
        url = make_url(uri)
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(uri, busy_timeout_ms)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        # Created on first use; racing creators are serialised by the write transaction.
        self._write(lambda session: Base.metadata.create_all(session.connection()))

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction; a locked or unreachable store is retried
        (`WriteRetry`), then reported as `Unavailable` with nothing of the write stored."""
        from airgenome.settings import redact_uri

        retry = self.retry
        started = retry.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except OperationalError as error:
                kind = _transient(error)
                if kind is None:
                    raise
                elapsed = retry.clock() - started
                pause = retry.pause(attempt)
                if attempt >= retry.attempts or elapsed + pause > retry.deadline_s:
                    cause = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
                    raise Unavailable(
                        f"evaluation store {redact_uri(self.uri)} is {kind} ({cause}); gave up after "
                        f"{attempt} attempts in {elapsed:.1f}s; nothing of this write was stored"
                    ) from error
                log.warning(
                    "evaluation store %s (attempt %d of %d); retrying in %.2fs", kind, attempt, retry.attempts, pause
                )
                retry.sleep(pause)

    def save(self, run: EvaluationRunRecord) -> EvaluationRunRecord:
        tried = False

        def add(session: Session) -> None:
            nonlocal tried
            # An earlier attempt may have committed and then lost its connection.
            if tried and session.get(RunRow, run.id) is not None:
                return
            tried = True
            session.add(_to_row(run))

        self._write(add)
        return run

    def get(self, run_id: str) -> EvaluationRunRecord:
        with Session(self.engine) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFound(f"no evaluation run with id {run_id!r}")
            return _record(row)

    def query(self, query: EvaluationQuery) -> EvaluationPage:
        conditions = []
        if query.model is not None:
            conditions.append(or_(RunRow.model_id == query.model, RunRow.model_name == query.model))
        if query.model_id is not None:
            conditions.append(RunRow.model_id == query.model_id)
        if query.model_name is not None:
            conditions.append(RunRow.model_name == query.model_name)
        if query.model_version is not None:
            conditions.append(RunRow.model_version == query.model_version)
        if query.name is not None:
            conditions.append(RunRow.name == query.name)
        if query.status is not None:
            conditions.append(RunRow.status == query.status)
        if query.since is not None:
            conditions.append(RunRow.created_at >= query.since.replace(tzinfo=None))
        if query.until is not None:
            conditions.append(RunRow.created_at <= query.until.replace(tzinfo=None))
        with Session(self.engine) as session, session.begin():  # one snapshot: total and page agree
            total = session.scalar(select(func.count()).select_from(RunRow).where(*conditions)) or 0
            rows = session.scalars(
                select(RunRow)
                .where(*conditions)
                .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            ).all()
            items = tuple(_summary(row) for row in rows)
        return EvaluationPage(items=items, total=total, limit=query.limit, offset=query.offset)

    def close(self) -> None:
        self.engine.dispose()
