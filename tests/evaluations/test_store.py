"""The SQL store: durable under parallel writers, searchable by model, name, status and time."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from airgenome.errors import InvalidInput, NotFound
from airgenome.evaluations import (
    FAIL,
    NO_EXPECTATIONS,
    PASS,
    EvaluationRunRecord,
    EvaluationStore,
    TargetModel,
    TaskRecord,
)
from airgenome.evaluations.store import EvaluationQuery, get_evaluation_store
from tests.evaluations.writers import write_runs

WRITERS = 8
RUNS_PER_WRITER = 200
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_eight_writer_processes_lose_nothing(store_uri: str) -> None:
    # The database does not exist yet: the writers also race to create the schema.
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        written = pool.starmap(write_runs, [(store_uri, w, RUNS_PER_WRITER) for w in range(WRITERS)])

    store = get_evaluation_store(store_uri)
    ids = {run_id for batch in written for run_id in batch}
    assert len(ids) == WRITERS * RUNS_PER_WRITER
    page = store.search(name="parallel/writer", limit=500)
    assert page.total == WRITERS * RUNS_PER_WRITER
    for writer in range(WRITERS):
        mine = store.search(model_id=f"writer-{writer}/1", limit=500)
        assert {s.id for s in mine} == set(written[writer])
    # Every run arrived whole: its task and prototype, with their expectations.
    some = store.get(written[WRITERS - 1][-1])
    assert [(t.kind, t.status, len(t.expectations)) for t in some.tasks] == [
        ("task", PASS, 1),
        ("prototype", PASS, 1),
    ]


def _run(run_id: str, *, name: str, model: TargetModel, status: int, minutes: int) -> EvaluationRunRecord:
    return EvaluationRunRecord(
        id=run_id,
        name=name,
        status=status,
        created_at=T0 + timedelta(minutes=minutes),
        target_model=model,
        tasks=(TaskRecord(position=0, name="only", kind="task", status=status),),
        version_name="v1",
    )


@pytest.fixture
def filled(store: EvaluationStore) -> EvaluationStore:
    forest1 = TargetModel(id="forest~1/1", name="/housing/forest", version="1")
    forest2 = TargetModel(id="forest~1/2", name="/housing/forest", version="2")
    text = TargetModel(id="text/7")
    runs = [
        _run("r00", name="accuracy", model=forest1, status=PASS, minutes=0),
        _run("r01", name="accuracy", model=forest2, status=FAIL, minutes=1),
        _run("r02", name="fairness", model=forest2, status=PASS, minutes=2),
        _run("r03", name="fairness", model=text, status=NO_EXPECTATIONS, minutes=3),
        _run("r04", name="accuracy", model=text, status=FAIL, minutes=4),
        _run("r05", name="accuracy", model=forest2, status=PASS, minutes=5),
    ]
    for run in runs:
        store.save(run)
    return store


def _ids(store: EvaluationStore, **filters) -> list[str]:
    return [summary.id for summary in store.search(**filters)]


def test_search_filters(filled: EvaluationStore) -> None:
    assert _ids(filled) == ["r05", "r04", "r03", "r02", "r01", "r00"]  # newest first
    assert _ids(filled, model_id="forest~1/2") == ["r05", "r02", "r01"]
    assert _ids(filled, model_name="/housing/forest") == ["r05", "r02", "r01", "r00"]
    assert _ids(filled, model_name="/housing/forest", model_version="1") == ["r00"]
    assert _ids(filled, model="/housing/forest") == ["r05", "r02", "r01", "r00"]
    assert _ids(filled, model="text/7") == ["r04", "r03"]
    assert _ids(filled, name="fairness") == ["r03", "r02"]
    assert _ids(filled, status="fail") == ["r04", "r01"]
    assert _ids(filled, status=-1) == ["r03"]
    assert _ids(filled, status="1", name="accuracy") == ["r05", "r00"]
    assert _ids(filled, since=T0 + timedelta(minutes=2)) == ["r05", "r04", "r03", "r02"]
    assert _ids(filled, until="2026-03-01T12:01:00Z") == ["r01", "r00"]
    assert _ids(filled, since="2026-03-01T13:01:00+01:00", until=T0 + timedelta(minutes=3)) == [
        "r03",
        "r02",
        "r01",
    ]
    assert _ids(filled, since="2026-03-01T12:01:00") == ["r05", "r04", "r03", "r02", "r01"]  # naive: UTC
    assert _ids(filled, model_id="nobody/1") == []


def test_search_pages(filled: EvaluationStore) -> None:
    first = filled.search(limit=4)
    assert ([s.id for s in first], first.total, first.next_offset) == (["r05", "r04", "r03", "r02"], 6, 4)
    second = filled.search(limit=4, offset=first.next_offset)
    assert ([s.id for s in second], second.next_offset) == (["r01", "r00"], None)
    beyond = filled.search(limit=4, offset=10)
    assert (len(beyond), beyond.total, beyond.next_offset) == (0, 6, None)
    summary = first.items[0]
    assert summary.to_dict() == {
        "id": "r05",
        "name": "accuracy",
        "versionName": "v1",
        "status": PASS,
        "statusName": "pass",
        "createdAt": "2026-03-01T12:05:00+00:00",
        "targetModel": {"id": "forest~1/2", "name": "/housing/forest", "version": "2"},
        "taskCount": 1,
        "prototypeCount": 0,
    }


def test_bad_filters_name_every_field() -> None:
    with pytest.raises(InvalidInput, match="invalid evaluation filters") as caught:
        EvaluationQuery.parse(
            status="maybe", since="yesterday", limit="0", offset="-1", model_id="", colour="red"
        )
    assert [d["field"] for d in caught.value.details] == [
        "colour",
        "model_id",
        "status",
        "since",
        "limit",
        "offset",
    ]
    with pytest.raises(InvalidInput, match="until: must not be before since"):
        EvaluationQuery.parse(since="2026-02-01T00:00:00Z", until="2026-01-01T00:00:00Z")
    with pytest.raises(InvalidInput, match=r"limit: expected an integer 1\.\.500, got 501"):
        EvaluationQuery.parse(limit=501)


def test_unknown_run_is_not_found(store: EvaluationStore) -> None:
    with pytest.raises(NotFound, match="no evaluation run with id 'nope'"):
        store.get("nope")


def test_a_run_is_saved_whole_or_not_at_all(store: EvaluationStore) -> None:
    run = _run("dup", name="accuracy", model=TargetModel(id="m/1"), status=PASS, minutes=0)
    store.save(run)
    clash = EvaluationRunRecord(  # same id: the insert fails, and none of its tasks land
        **{**run.__dict__, "tasks": tuple(TaskRecord(position=i, name="x", kind="task", status=FAIL) for i in range(3))}
    )
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
        store.save(clash)
    assert store.get("dup") == run


def test_stores_are_cached_per_uri_and_unknown_schemes_refused(store_uri: str) -> None:
    assert get_evaluation_store(store_uri) is get_evaluation_store(store_uri)
    with pytest.raises(InvalidInput, match=r"evaluation_store_uri: unsupported scheme 'mongodb'"):
        get_evaluation_store("mongodb://localhost/evaluations")


def test_in_memory_store_works(tmp_path) -> None:
    store = get_evaluation_store("sqlite://")
    store.save(_run("mem", name="n", model=TargetModel(id="m/1"), status=PASS, minutes=0))
    assert store.get("mem").name == "n"
