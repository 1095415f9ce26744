"""The sequences API and page in-process (Airflow's real auth; no Airflow API behind them).

Airflow's REST API is deliberately unreachable here (a closed port): uploads must still be
validated, stored atomically and reported honestly; the end-to-end path is in the live test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

ECHO_STEP = {
    "stepName": "step-1",
    "stepType": "model",
    "component": "genome.echo",
    "parameters": {"CA_TRAIN": True},
    "datasets": [],
    "timeout": "360s",
    "retry": "3",
}
VALID: dict[str, Any] = {
    "pipelineName": "pipe-http",
    "canonicalName": "/search/pipe-http",
    "application": "search",
    "steps": [ECHO_STEP, [dict(ECHO_STEP, stepName="step-2a"), dict(ECHO_STEP, stepName="step-2b")]],
}
# Genome README's scheduled example, verbatim (its image maps to a catalogued component).
GENOME_SCHEDULED = {
    "deployment": "deploy-1",
    "pipelineName": "pipe-1",
    "canonicalName": "/search/pipe-1",
    "application": "search",
    "schedule": "6h",
    "steps": [
        {
            "stepName": f"step-{n}",
            "stepType": "model",
            "parameters": {flag: True},
            "datasets": [],
            "image": "ensemble-training:local.3",
            "timeout": "360s",
            "retry": "3",
        }
        for n, flag in ((1, "CA_TRAIN"), (2, "TEXT_TRAIN"), (3, "IMAGE_TRAIN"))
    ],
}
WRITE_PATHS = [
    "/api/v1/sequences",
    "/api/v1/sequences/run",
    "/v1.0/genome/compute/sequencer",
    "/v1.0/genome/compute/sequencer/run",
]
ALL_UPLOAD_PATHS = ["/api/v1/sequences/validate", *WRITE_PATHS]


def _post(plugin_client, path: str, body: Any, user: str = "admin", **kwargs: Any):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **plugin_client.headers(user)}
    headers.update(kwargs.pop("headers", {}))
    return plugin_client.client.post(path, content=content, headers=headers, **kwargs)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_validate_answers_the_dag_it_would_become_and_writes_nothing(plugin_client, uploads) -> None:
    response = _post(plugin_client, "/api/v1/sequences/validate", VALID)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "valid": True,
        "dag_id": "pipe-http",
        "pipeline_name": "pipe-http",
        "schedule": None,
        "tasks": ["step-1", "step-2a", "step-2b"],
    }
    assert _files(uploads) == []


def test_genome_readme_payload_is_accepted_verbatim(plugin_client, uploads) -> None:
    response = _post(plugin_client, "/api/v1/sequences/validate", GENOME_SCHEDULED)
    assert response.status_code == 200, response.text
    assert response.json()["schedule"] == "6h"


def test_invalid_spec_names_every_field_and_writes_nothing(plugin_client, uploads) -> None:
    bad = copy.deepcopy(VALID)
    bad["steps"][0]["timeout"] = "1x"
    bad["steps"][1][0]["retry"] = "many"
    bad["steps"][1][1]["stepNme"] = "typo"
    for path in ALL_UPLOAD_PATHS:
        response = _post(plugin_client, path, bad)
        assert response.status_code == 422, (path, response.text)
        locs = [error["loc"] for error in response.json()["errors"]]
        assert locs == ["steps[0].timeout", "steps[1][0].retry", "steps[1][1].stepNme"], path
        assert "steps[0].timeout" in response.json()["detail"]
    assert _files(uploads) == []


def test_malformed_json_is_422_at_the_root(plugin_client, uploads) -> None:
    response = _post(plugin_client, "/api/v1/sequences", b'{"pipelineName": "x",')
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == "$" and error["msg"].startswith("not valid JSON")
    assert _files(uploads) == []


def test_empty_body_is_422(plugin_client, uploads) -> None:
    for path in ALL_UPLOAD_PATHS:
        response = plugin_client.client.post(path, headers=plugin_client.headers())
        assert response.status_code == 422, path
        assert response.json() == {
            "detail": "body: empty; send the sequence as a JSON object",
            "errors": [{"loc": "body", "msg": "empty body"}],
        }


def test_wrong_content_type_is_415(plugin_client, uploads) -> None:
    response = _post(
        plugin_client, "/api/v1/sequences", VALID, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json() == {"detail": "content-type: 'text/plain' is not JSON; send application/json"}
    form = plugin_client.client.post(
        "/api/v1/sequences", data={"a": "b"}, headers=plugin_client.headers()
    )
    assert form.status_code == 415
    assert _files(uploads) == []


def test_huge_bodies_are_413_before_parsing(plugin_client, uploads, monkeypatch) -> None:
    monkeypatch.setenv("AIRGENOME_MAX_SEQUENCE_BYTES", "4096")
    huge = b'{"pipelineName": "' + b"x" * 10_000 + b'"'  # not even valid JSON: never parsed
    for path in ALL_UPLOAD_PATHS:
        response = _post(plugin_client, path, huge)
        assert response.status_code == 413, path
        assert response.json() == {"detail": "body: 10019 bytes is over the 4096-byte limit"}

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(10):
            yield b"x" * 1000

    streamed = plugin_client.client.post(
        "/api/v1/sequences",
        content=chunks(),
        headers={"Content-Type": "application/json", **plugin_client.headers()},
    )
    assert streamed.status_code == 413
    assert streamed.json() == {"detail": "body: more than the 4096-byte limit"}
    assert _files(uploads) == []


def test_viewer_may_read_and_validate_but_not_write(plugin_client, uploads) -> None:
    for path in WRITE_PATHS:
        response = _post(plugin_client, path, VALID, user="viewer")
        assert response.status_code == 403, path
    assert _files(uploads) == []
    assert _post(plugin_client, "/api/v1/sequences/validate", VALID, user="viewer").status_code == 200
    assert plugin_client.client.get(
        "/api/v1/sequences", headers=plugin_client.headers("viewer")
    ).status_code == 200
    assert plugin_client.client.get("/sequences", headers=plugin_client.headers("viewer")).status_code == 200
    # Permission is checked before the body: a viewer's huge body is 403, not 413.
    big = _post(plugin_client, "/api/v1/sequences", b"x" * 10_000_000, user="viewer")
    assert big.status_code == 403


def test_save_writes_atomically_and_reports_airflow_unreachable(plugin_client, uploads) -> None:
    response = _post(plugin_client, "/api/v1/sequences", VALID)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dag_id"] == "pipe-http"
    assert body["replaced"] is False
    assert body["file"] == "pipe-http.json"
    assert body["parse_requested"] is False and body["visible"] is False
    assert body["dag_url"] == "/dags/pipe-http"
    assert body["warning"].startswith("saved; could not ask Airflow to parse it now: Airflow's REST API")
    assert _files(uploads) == ["pipe-http.json"]
    stored = json.loads((uploads / "pipe-http.json").read_text())
    created = stored.pop("createdAt")
    assert stored == VALID

    # Replacing keeps the creation time (a duration schedule counts from it).
    changed = dict(VALID, description="second version")
    again = _post(plugin_client, "/v1.0/genome/compute/sequencer", changed)
    assert again.status_code == 201 and again.json()["replaced"] is True
    stored = json.loads((uploads / "pipe-http.json").read_text())
    assert stored["description"] == "second version" and stored["createdAt"] == created
    assert _files(uploads) == ["pipe-http.json"]


def test_replacing_with_an_invalid_spec_keeps_the_old_file(plugin_client, uploads) -> None:
    assert _post(plugin_client, "/api/v1/sequences", VALID).status_code == 201
    before = (uploads / "pipe-http.json").read_bytes()
    bad = dict(VALID, schedule="every tuesday")
    response = _post(plugin_client, "/api/v1/sequences", bad)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == ["schedule"]
    assert (uploads / "pipe-http.json").read_bytes() == before
    assert _files(uploads) == ["pipe-http.json"]


def test_run_without_airflow_is_503_and_keeps_the_saved_file(plugin_client, uploads) -> None:
    response = _post(plugin_client, "/v1.0/genome/compute/sequencer/run", VALID)
    assert response.status_code == 503
    assert response.json()["detail"].startswith(
        "sequence saved as pipe-http.json, but Airflow did not show DAG 'pipe-http'"
    )
    assert _files(uploads) == ["pipe-http.json"]


def test_get_list_and_delete(plugin_client, uploads) -> None:
    assert _post(plugin_client, "/api/v1/sequences", VALID).status_code == 201
    listing = plugin_client.client.get("/api/v1/sequences", headers=plugin_client.headers()).json()
    mine = [item for item in listing["sequences"] if item["origin"] == "upload"]
    assert [(item["dag_id"], item["file"], item["latest_run"]) for item in mine] == [
        ("pipe-http", "pipe-http.json", None)
    ]
    assert listing["airflow_error"].startswith("Airflow's REST API at http://127.0.0.1:")

    one = plugin_client.client.get("/api/v1/sequences/pipe-http", headers=plugin_client.headers())
    assert one.status_code == 200
    detail = one.json()
    assert detail["dag_id"] == "pipe-http" and detail["origin"] == "upload"
    assert json.loads(detail["source"])["steps"] == VALID["steps"]
    assert detail["dag"] is None and detail["runs"] == []

    viewer_delete = plugin_client.client.delete(
        "/api/v1/sequences/pipe-http", headers=plugin_client.headers("viewer")
    )
    assert viewer_delete.status_code == 403
    deleted = plugin_client.client.delete("/api/v1/sequences/pipe-http", headers=plugin_client.headers())
    assert deleted.status_code == 200
    assert deleted.json() == {"dag_id": "pipe-http", "deleted": True, "parse_requested": False}
    assert _files(uploads) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/sequences/nope"),
        ("DELETE", "/api/v1/sequences/nope"),
        ("GET", "/sequences/nope"),
    ],
)
def test_unknown_sequence_is_404(plugin_client, uploads, method: str, path: str) -> None:
    response = plugin_client.client.request(method, path, headers=plugin_client.headers())
    assert response.status_code == 404
    assert response.json() == {"detail": "sequence 'nope' does not exist"}


def test_unsafe_dag_id_in_the_path_is_422(plugin_client, uploads) -> None:
    response = plugin_client.client.get("/api/v1/sequences/.hidden", headers=plugin_client.headers())
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": "dag_id", "msg": "not a valid DAG id"}]


def test_cookie_writes_need_our_origin(plugin_client, uploads) -> None:
    token = plugin_client.tokens["admin"]
    body = json.dumps(VALID).encode()
    plugin_client.client.cookies.set("_token", token)
    try:
        no_origin = plugin_client.client.post(
            "/api/v1/sequences", content=body, headers={"Content-Type": "application/json"}
        )
        assert no_origin.status_code == 403
        same_site = plugin_client.client.post(
            "/api/v1/sequences",
            content=body,
            headers={"Content-Type": "application/json", "Origin": "http://testserver"},
        )
        assert same_site.status_code == 201, same_site.text
    finally:
        plugin_client.client.cookies.clear()
    assert _files(uploads) == ["pipe-http.json"]


def test_pages_escape_everything(plugin_client, uploads) -> None:
    evil = dict(VALID, description="<script>alert('x')</script>")
    assert _post(plugin_client, "/api/v1/sequences", evil).status_code == 201
    listing = plugin_client.client.get("/sequences", headers=plugin_client.headers())
    assert listing.status_code == 200
    html = listing.text
    assert "id='sequence-form'" in html and "data-api='/airgenome/api/v1/sequences'" in html
    assert "href='/airgenome/sequences/pipe-http'" in html and "href='/dags/pipe-http'" in html
    for label in ("Validate", "Save", "Save and run"):
        assert f">{label}</button>" in html

    detail = plugin_client.client.get("/sequences/pipe-http", headers=plugin_client.headers())
    assert detail.status_code == 200
    assert "<script>alert" not in detail.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in detail.text

    edit = plugin_client.client.get("/sequences?edit=pipe-http", headers=plugin_client.headers())
    assert "&lt;script&gt;alert" in edit.text and "<script>alert" not in edit.text


BAD_SPECS: list[Any] = [
    [],
    "a string",
    42,
    None,
    {},
    {"pipelineName": "p"},
    {"pipelineName": "p", "application": "a"},
    {"pipelineName": "p", "application": "a", "steps": "not a list"},
    {"pipelineName": "p", "application": "a", "steps": []},
    {"pipelineName": "p", "application": "a", "steps": [[]]},
    {"pipelineName": "p", "application": "a", "steps": [1, 2]},
    {"pipelineName": "p", "application": "a", "steps": [None]},
    {"pipelineName": "p", "application": "a", "steps": [{"stepName": "s"}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "timeout": "1x"}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "timeout": -5}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "retry": True}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "component": "os.system"}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "command": "rm -rf /"}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "parameters": []}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "env": {"PARAMETERS": "x"}}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "resources": {"gpu": 99}}]},
    {"pipelineName": "p", "application": "a", "steps": [{**ECHO_STEP, "resources": {"cpu": "lots"}}]},
    {"pipelineName": "p", "application": "a", "steps": [ECHO_STEP, ECHO_STEP]},
    {"pipelineName": "p", "application": "{{ var.value.secret }}", "steps": [ECHO_STEP]},
    {"pipelineName": "p", "application": "a", "schedule": "every tuesday", "steps": [ECHO_STEP]},
    {"pipelineName": "p", "application": "a", "schedule": 5, "steps": [ECHO_STEP]},
    {"pipelineName": "p", "application": "a", "createdAt": "yesterday", "steps": [ECHO_STEP]},
    {"pipelineName": ["x"], "application": {"a": 1}, "steps": [ECHO_STEP]},
    {"pipelineName": "p", "application": "a", "steps": [ECHO_STEP], "extra": 1},
    {"pipelineName": "p", "application": "a", "steps": [[[[[[[[[[[ECHO_STEP]]]]]]]]]]]},
]
BAD_BYTES = [
    b"{",
    b"not json",
    b'{"a": NaN}',
    b'{"pipelineName": "p", "pipelineName": "q"}',
    b"\xff\xfe\x00garbage",
    b"[" * 5000 + b"]" * 5000,
    b'{"pipelineName": "p", "application": "a", "steps": [' + b"[" * 3000 + b"]" * 3000 + b"]}",
    "{\"pipelineName\": \"\U0001F4A5\", \"application\": \"a\"}".encode(),
]


@pytest.mark.parametrize("path", ALL_UPLOAD_PATHS)
def test_bad_spec_corpus_is_always_4xx_never_5xx(plugin_client, uploads, path: str) -> None:
    statuses = []
    for spec in BAD_SPECS:
        response = _post(plugin_client, path, json.dumps(spec).encode())
        statuses.append(response.status_code)
        assert response.status_code == 422, (spec, response.text)
        errors = response.json()["errors"]
        assert errors and all(e["loc"] and e["msg"] for e in errors), spec
    for raw in BAD_BYTES:
        response = _post(plugin_client, path, raw)
        statuses.append(response.status_code)
        assert 400 <= response.status_code < 500, (raw[:40], response.text)
    assert max(statuses) < 500
    assert _files(uploads) == []


def test_a_shipped_dag_id_is_409_and_nothing_is_written(plugin_client, uploads) -> None:
    # dags/sequences/genome-parallel.json ships the DAG id "genome-parallel".
    taken = dict(VALID, pipelineName="genome-parallel")
    response = _post(plugin_client, "/api/v1/sequences", taken)
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"loc": "pipelineName", "msg": "DAG id 'genome-parallel' is already taken"}
    ]
    assert _files(uploads) == []
    shipped = plugin_client.client.get("/api/v1/sequences/genome-parallel", headers=plugin_client.headers())
    assert shipped.status_code == 200 and shipped.json()["origin"] == "bundled"
    refused = plugin_client.client.delete(
        "/api/v1/sequences/genome-parallel", headers=plugin_client.headers()
    )
    assert refused.status_code == 409
