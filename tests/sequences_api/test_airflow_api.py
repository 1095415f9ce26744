"""The parse-now logic of `AirflowApi` against a scripted Airflow (its documented answers).

The live tests run it against the real Airflow; these pin the decisions that are hard to
provoke there: a parse request the DAG processor dropped, a pending one (409), a stale token.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from airgenome.errors import Unavailable
from airgenome.sequence import airflow_api
from airgenome.sequence.airflow_api import AirflowApi, AirflowRefused

LOADER = "/bundle/sequences_loader.py"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class FakeAirflow:
    """Just enough of /api/v2 for the parse flow; records every request."""

    def __init__(self) -> None:
        self.dags: dict[str, dict[str, Any]] = {
            "sibling": {"dag_id": "sibling", "file_token": "tok-loader", "fileloc": LOADER,
                        "is_stale": False, "last_parsed_time": _iso(datetime.now(UTC) - timedelta(hours=1))},
        }
        self.calls: list[tuple[str, str]] = []
        self.parse_status = 201
        self.on_parse: Any = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if request.method == "PUT" and path.startswith("/api/v2/parseDagFile/"):
            if self.on_parse:
                self.on_parse()
            return httpx.Response(self.parse_status, json={"detail": "x"} if self.parse_status >= 400 else None)
        if request.method == "GET" and path == "/api/v2/dags":
            return httpx.Response(200, json={"dags": list(self.dags.values()), "total_entries": len(self.dags)})
        if request.method == "GET" and path.startswith("/api/v2/dags/"):
            dag = self.dags.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=dag) if dag else httpx.Response(404, json={"detail": "nope"})
        return httpx.Response(500, json={"detail": "unexpected"})

    def parse_now(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.dags.setdefault(
                dag_id, {"dag_id": dag_id, "file_token": "tok-loader", "fileloc": LOADER, "is_stale": False}
            )["last_parsed_time"] = _iso(datetime.now(UTC) + timedelta(milliseconds=5))

    def parses(self) -> int:
        return sum(1 for method, path in self.calls if method == "PUT")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    monkeypatch.setattr(airflow_api, "_ANCHORS", {})
    monkeypatch.setattr(airflow_api, "POLL_S", 0.01)
    monkeypatch.setattr(airflow_api, "FIRST_ANCHOR_CHECK_S", 0.05)
    monkeypatch.setattr(airflow_api, "ANCHOR_CHECK_S", 0.05)
    return FakeAirflow()


def _api(fake: FakeAirflow) -> AirflowApi:
    return AirflowApi("http://airflow.test", "token", transport=httpx.MockTransport(fake.handler))


def test_a_new_dag_is_parsed_through_the_loader_files_token(fake: FakeAirflow) -> None:
    fake.on_parse = lambda: fake.parse_now("sibling", "new")
    written = time.time()
    with _api(fake) as api:
        outcome = api.parse_and_wait("new", written, timeout_s=5, loader_tags=["sequence"],
                                     loader_file="sequences_loader.py")
    assert outcome.requested and outcome.visible and outcome.dag["dag_id"] == "new"
    assert fake.parses() == 1
    # The loader file's token is remembered: the next upload asks for the parse at once.
    fake.calls.clear()
    with _api(fake) as api:
        api.parse_and_wait("other", time.time(), timeout_s=5, loader_file="sequences_loader.py")
    assert fake.calls[0] == ("PUT", "/api/v2/parseDagFile/tok-loader")


def test_a_dropped_request_is_re_sent_as_soon_as_a_parse_missed_it(
    fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The periodic re-send cannot fire within this test, so a second parse request can only
    # come from the fast path (no wall-clock assertion needed).
    monkeypatch.setattr(airflow_api, "RESEND_PARSE_AFTER_S", 3600.0)
    # The first request lands mid-parse: that parse finishes (sibling refreshed) without ours.
    state = {"n": 0}

    def parse() -> None:
        state["n"] += 1
        fake.parse_now("sibling") if state["n"] == 1 else fake.parse_now("sibling", "new")

    fake.on_parse = parse
    with _api(fake) as api:
        outcome = api.parse_and_wait("new", time.time(), timeout_s=5, loader_file="sequences_loader.py")
    assert outcome.visible and fake.parses() == 2


def test_a_pending_request_409_counts_as_requested(fake: FakeAirflow) -> None:
    fake.parse_status = 409
    with _api(fake) as api:
        outcome = api.parse_and_wait("new", time.time(), timeout_s=0.2, loader_file="sequences_loader.py")
    assert outcome.requested is True and outcome.visible is False


def test_a_stale_cached_token_is_rediscovered(fake: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        airflow_api, "_ANCHORS",
        {("http://airflow.test", "sequences_loader.py"): airflow_api.Anchor("gone", "tok-gone", True)},
    )
    original = fake.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tok-gone"):
            fake.calls.append((request.method, request.url.path))
            return httpx.Response(404, json={"detail": "File not found"})
        return original(request)

    fake.handler = handler  # type: ignore[method-assign]
    fake.on_parse = lambda: fake.parse_now("sibling", "new")
    with _api(fake) as api:
        outcome = api.parse_and_wait("new", time.time(), timeout_s=5, loader_file="sequences_loader.py")
    assert outcome.visible
    assert ("PUT", "/api/v2/parseDagFile/tok-loader") in fake.calls
    assert airflow_api._ANCHORS[("http://airflow.test", "sequences_loader.py")].file_token == "tok-loader"


def test_a_replaced_dag_waits_for_a_parse_after_the_write(fake: FakeAirflow) -> None:
    fake.parse_now("pipe")  # exists, parsed just now...
    written = time.time() + 0.5  # ...but before this write
    with _api(fake) as api:
        outcome = api.parse_and_wait("pipe", written, timeout_s=0.2, loader_file="sequences_loader.py")
    assert outcome.visible is False


def test_airflow_errors_become_statuses_never_500() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": "Forbidden"})

    with AirflowApi("http://airflow.test", "t", transport=httpx.MockTransport(refuse)) as api:
        with pytest.raises(AirflowRefused, match="Airflow refused PATCH /api/v2/dags/x: 403 Forbidden") as error:
            api.unpause("x")
    assert error.value.status_code == 403

    def crash(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="boom")

    with AirflowApi("http://airflow.test", "t", transport=httpx.MockTransport(crash)) as api:
        with pytest.raises(AirflowRefused) as error:
            api.trigger("x")
    assert error.value.status_code == 502

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with AirflowApi("http://airflow.test", "t", transport=httpx.MockTransport(down)) as api:
        with pytest.raises(Unavailable, match="did not answer GET /api/v2/dags/x: connection refused"):
            api.get_dag("x")


def test_trigger_sends_null_logical_date_and_run_after_in_the_past() -> None:
    seen: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"dag_run_id": "manual__1", "state": "queued"})

    before = datetime.now(UTC)
    with AirflowApi("http://airflow.test", "t", transport=httpx.MockTransport(record)) as api:
        run = api.trigger("pipe", {"parameters": {"a": 1}})
    after = datetime.now(UTC)
    assert run["dag_run_id"] == "manual__1"
    [body] = seen
    assert body["logical_date"] is None and body["conf"] == {"parameters": {"a": 1}}
    # one second before the moment of the call (bracketed by clock reads, not a time limit)
    second = timedelta(seconds=1)
    assert before - second <= datetime.fromisoformat(body["run_after"]) <= after - second
