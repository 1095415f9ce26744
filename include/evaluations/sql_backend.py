"""The SQL evaluation store (SQLAlchemy): SQLite embedded, Postgres/MySQL in production.

Two tables: one row per run (the searchable columns), one row per task or prototype
(metrics and expectations as JSON). A run is written in ONE transaction, so a reader
sees all of it or none of it.

SQLite with many writers (parallel steps are separate processes): WAL journal (readers
never block the writer), `busy_timeout` (a writer waits for the lock instead of failing),
`BEGIN IMMEDIATE` for writes (the write lock is taken up front, so two writers never
deadlock upgrading read locks), and a bounded retry with backoff should SQLite still
answer "database is locked". `synchronous=FULL`: a committed run survives power loss.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
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


def _sqlite_engine(uri: str) -> Engine:
    url = make_url(uri)
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        # One shared connection for an in-memory database (each new one would be empty).
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by us (below), not by the driver's implicit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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

    def __init__(self, uri: str) -> None:
        self.uri = uri
        url = make_url(uri)
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(uri)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        # Created on first use; racing creators are serialised by the write transaction.
        self._write(lambda session: Base.metadata.create_all(session.connection()))

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction, retrying when SQLite reports a lock."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except OperationalError as error:
                if not _is_locked(error) or attempt == WRITE_ATTEMPTS:
                    if _is_locked(error):
                        raise Unavailable(
                            f"evaluation store is busy; gave up after {WRITE_ATTEMPTS} attempts"
                        ) from error
                    raise
                pause = min(0.05 * 2**attempt, 2.0) * random.uniform(0.5, 1.5)
                log.info("evaluation store locked (attempt %d); retrying in %.2fs", attempt, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def save(self, run: EvaluationRunRecord) -> EvaluationRunRecord:
        self._write(lambda session: session.add(_to_row(run)))
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
