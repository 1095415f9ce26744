"""Hostile input across the plugin API: every operation of its OpenAPI schema, fuzzed.

Property-based with hypothesis (seeded: ``derandomize=True``; bounded: ``MAX_EXAMPLES`` per
operation). For every operation in ``create_app().openapi()``: path and query parameters and
JSON bodies drawn from the schema (valid-shaped values, boundary values, wrong types, missing
and extra fields, mutations of a known-good example) with hostile strings in every string
field: path traversal (plain and percent-encoded), unicode (RTL marks, emoji, BOM), NUL and
other control characters, lone surrogates (escaped in JSON, invalid UTF-8 in URLs), very long
strings, huge numbers, deep nesting. Deterministic tests add what a random draw might miss:
5 MB bodies (declared and streamed), nesting 100 000 deep, 5 000-digit numbers, each hostile
string in each string field, and the cross-site request guard on every cookie-authenticated
write.

The properties: no answer is ≥ 500, and every 4xx is JSON in the project's error shape.

The plugin runs in-process behind Airflow's real auth (``plugin_client``) with a real model
store (a forest and a logistic model saved through the SDK), a real evaluation store (one
run), a real uploads folder (one sequence) and Airflow's REST API deliberately unreachable (a
closed loopback port, as in tests/sequences_api): uploads are validated and stored, and a run
answers 503 rather than a 500. Nothing is mocked.

``AIRGENOME_FUZZ_REPORT=path.md`` writes the routes × status codes table (docs/reliability.md).
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from airgenome.plugins.app import create_app
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # real stores with two models; hundreds of requests

SCHEMA: dict[str, Any] = create_app().openapi()
COMPONENTS: dict[str, Any] = SCHEMA.get("components", {}).get("schemas", {})
OPERATIONS: list[tuple[str, str]] = sorted(
    (method.upper(), path) for path, ops in SCHEMA["paths"].items() for method in ops
)
WRITES = [(method, path) for method, path in OPERATIONS if method not in ("GET", "HEAD", "OPTIONS")]
WITH_BODY = [(m, p) for m, p in OPERATIONS if "requestBody" in SCHEMA["paths"][p][m.lower()]]

# Per operation; the whole module stays around a minute on 2 busy CPUs.
MAX_EXAMPLES = int(os.environ.get("AIRGENOME_FUZZ_EXAMPLES", "10"))
# Shrinking a failure costs minutes on busy CPUs; the unshrunk example is reported either way
# (and is the same on every run: derandomize). AIRGENOME_FUZZ_SHRINK=1 to shrink it.
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("AIRGENOME_FUZZ_SHRINK") else [])
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=PHASES,
    print_blob=True,
)

# -- hostile values ------------------------------------------------------------------------
LONG = "A" * 100_000
HOSTILE_STRINGS: list[str] = [
    "",
    " ",
    # path traversal, plain and encoded (the server decodes %xx in paths once)
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "....//....//etc/passwd",
    "file:///etc/passwd",
    ".",
    "..",
    "/",
    "//",
    "%",
    "%00",
    "%zz",
    "?a=1",
    "#frag",
    "@",
    "@@",
    # unicode
    "\u202egnp.exe\u202c",
    "\u200f\u200e\u200b",
    "\ufeff",
    "\U0001f9ec\U0001f600\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\u0130\u0131\u00df\ufb00",
    # control characters
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m\x7f",
    "\r\nSet-Cookie: x=1",
    "pipe\n",
    # lone surrogates (a \\ud800 escape in JSON; invalid UTF-8 bytes in a URL)
    "\ud800",
    "a\udfffb",
    # injection-shaped
    "<script>alert(1)</script>",
    "'; DROP TABLE runs; --",
    "{{7*7}}",
    "${jndi:ldap://127.0.0.1/a}",
    # numbers as text
    "-1",
    "0",
    "1e309",
    "9" * 400,
    "NaN",
    "-Infinity",
    "null",
    # long
    "x" * 10_000,
    "\u00e9" * 5_000,
    LONG,
]
# The subset sent into EVERY string field deterministically (one family each).
FAMILIES: dict[str, str] = {
    "traversal": "../../etc/passwd",
    "traversal-encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "rtl": "\u202egnp.exe\u202c",
    "emoji": "\U0001f9ec\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "nul-control": "a\x00b\x01\x1b[31m\x7f\r\n",
    "lone-surrogate": "a\ud800b",
    "long-100k": LONG,
}
HUGE_INTS = [2**31, 2**63, -(2**63) - 1, 10**30, 10**400]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=30),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([*HUGE_INTS, 0, -1, 1e308, -0.0, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(hostile_text, st.text(max_size=8)), children, max_size=4),
    max_leaves=12,
)


# -- the store the routes read -------------------------------------------------------------
FOREST = "/tests/fuzz/forest"
LINEAR = "/tests/fuzz/linear"
FEATURES = [f"f{i}" for i in range(4)]
ROW = [0.5, -1.0, 2.0, 0.0]
ECHO_STEP = {
    "stepName": "step-1",
    "stepType": "model",
    "component": "genome.echo",
    "parameters": {"CA_TRAIN": True},
    "datasets": [],
    "timeout": "360s",
    "retry": "3",
}
SEQUENCE = {
    "pipelineName": "fuzz-pipe",
    "canonicalName": "/search/fuzz-pipe",
    "application": "search",
    "steps": [ECHO_STEP, [dict(ECHO_STEP, stepName="step-2a"), dict(ECHO_STEP, stepName="step-2b")]],
}


@dataclass
class World:
    uploads: Path
    known: dict[str, list[str]]
    examples: dict[str, list[Any]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, plugin_client: Any) -> Iterator[World]:
    """Real stores with something in them, and Airflow's REST API unreachable."""
    import numpy as np

    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.settings import StoreLocations

    base = tmp_path_factory.mktemp("fuzz")
    env = StoreLocations.under(base / "stores").as_env()
    env["AIRGENOME_UPLOADS_FOLDER"] = str(base / "uploads")
    env["AIRGENOME_AIRFLOW_API_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import LogisticRegression

        from airgenome.models.client import ModelStore
        from airgenome.models.estimator import GenomeEstimator

        rng = np.random.default_rng(0)
        x = rng.normal(size=(80, len(FEATURES)))
        y = x[:, 0] - 2 * x[:, 1]
        meta = {
            "application": "search",
            "pipelineName": "fuzz",
            "pipelineRunId": "run-1",
            "pipelineStage": "model",
            "versionName": "1.0.0",
            "framework": "sklearn",
            "inputModality": "tabular",
        }
        store = ModelStore()
        forest = GenomeEstimator(
            RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(x, y),
            modality="tabular",
            feature_names=FEATURES,
        )
        forest.explainer.sampleExplanations(x[:20])
        record = store.save_model(forest, {**meta, "canonicalName": FOREST, "predictionType": "regression"})
        store.set_alias(record.id, "champion")
        linear = GenomeEstimator(
            LogisticRegression(max_iter=200).fit(x, (y > 0).astype(int)),
            modality="tabular",
            feature_names=FEATURES,
        )
        store.save_model(linear, {**meta, "canonicalName": LINEAR, "predictionType": "classification"})

        @evaluation(name="fuzz/small", versionName="1.0", targetModel=f"{record.id}")
        class Small(GenomeEvaluationRun):
            @task(segment="all")
            def score(self, t: Any, dataset: Any) -> None:
                t.add_metric("accuracy", 0.9).expect(0.9, var="accuracy").toBeGreaterOrEqual(0.5)

        run = Small(get_evaluation_store(env["AIRGENOME_EVALUATION_STORE_URI"])).to_run()
        saved = plugin_client.client.post(
            "/api/v1/sequences/validate", json=SEQUENCE, headers=plugin_client.headers()
        )
        assert saved.status_code == 200, saved.text
        from airgenome.sequence.uploads import UploadStore

        UploadStore().write("fuzz-pipe", json.dumps(SEQUENCE).encode())
        known = {
            "name": [FOREST, FOREST.lstrip("/"), quote(FOREST, safe=""), LINEAR, "genome.echo", "tabular.train"],
            "version": ["1", "latest", "@champion", "2", "0"],
            "dag_id": ["fuzz-pipe", "no-such-pipe"],
            "evaluation_id": [run.id, "0" * 32],
            "model": [record.id, FOREST],
            "model_id": [record.id],
            "status": ["pass", "fail", "2"],
            "since": ["2020-01-01", "2020-01-01T00:00:00Z"],
            "until": ["2999-01-01"],
            "limit": ["1", "1000", "1001", "0"],
            "offset": ["0", "1"],
            "index": ["0", "2", "3"],
            "canonicalName": [FOREST],
            "q": ["forest"],
        }
        examples: dict[str, list[Any]] = {
            "ExplainRequest": [
                {"canonicalName": FOREST, "entries": [ROW]},
                {"canonicalName": FOREST, "version": 1, "application": "search", "entries": [ROW, ROW]},
                {"canonicalName": LINEAR, "alias": "champion", "entries": [ROW]},
                {"canonicalName": FOREST, "text": "a short text"},
                {"canonicalName": FOREST, "image": "data:image/png;base64,iVBORw0KGgo="},
            ],
            "sequence": [SEQUENCE, dict(SEQUENCE, schedule="6h"), dict(SEQUENCE, pipelineName="fuzz-other")],
        }
        yield World(uploads=base / "uploads", known=known, examples=examples)


# -- what came back ------------------------------------------------------------------------
TABLE: dict[str, Counter[int]] = defaultdict(Counter)
FAMILY_TABLE: dict[str, Counter[int]] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    lines = [
        "| route | requests | status codes seen |",
        "|---|---:|---|",
        *(
            f"| `{route}` | {sum(seen.values())} | {_codes(seen)} |"
            for route, seen in sorted(TABLE.items(), key=lambda item: item[0].split(" ", 1)[::-1])
        ),
        "",
        "| hostile-input family | requests | status codes seen |",
        "|---|---:|---|",
        *(f"| {family} | {sum(seen.values())} | {_codes(seen)} |" for family, seen in sorted(FAMILY_TABLE.items())),
    ]
    target = os.environ.get("AIRGENOME_FUZZ_REPORT")
    if target:
        Path(target).write_text("\n".join(lines) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and TABLE:
        with capture.global_and_fixture_disabled():  # shown even when the tests pass
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


def _codes(seen: Counter[int]) -> str:
    return ", ".join(f"{code}×{count}" for code, count in sorted(seen.items()))


@dataclass
class Call:
    method: str
    path: str  # the schema's path template, for the table
    url: str
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        body = "" if self.content is None else f" body[{len(self.content)}]={self.content[:300]!r}"
        return f"{self.method} {self.url[:300]!r} headers={self.headers}{body}"


def error_shape_problem(response: Any) -> str | None:
    """None when a 4xx body is the project's JSON error: ``{"detail": "...", "errors"?: [...]}``,
    or FastAPI's request-validation list (``{"detail": [{"loc": [...], "msg": ...}]}``)."""
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.headers.get('content-type')} {response.text[:200]!r}"
    if not isinstance(body, dict) or "detail" not in body:
        return f"no 'detail': {body!r:.200}"
    detail = body["detail"]
    if isinstance(detail, str):
        if not detail.strip():
            return "empty 'detail'"
        errors = body.get("errors", [])
        if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
            return f"'errors' is not a list of objects: {errors!r:.200}"
        return None
    if isinstance(detail, list) and detail and all(isinstance(e, dict) and "loc" in e and "msg" in e for e in detail):
        return None
    return f"'detail' is neither a message nor a list of field errors: {detail!r:.200}"


RUN_ROUTES = ("/api/v1/sequences/run", "/v1.0/genome/compute/sequencer/run")
POOL_ROUTES = ("explain", "/visualizations/", "/explanations/global")


def expected_unavailable(call: Call, response: Any) -> bool:
    """The two documented 503s: a run while Airflow's API is away (this module keeps it away),
    and the explainer's pool over its time limit or full (2 busy CPUs). Nothing else."""
    if response.status_code != 503:
        return False
    detail = response.json().get("detail", "")
    if call.path in RUN_ROUTES:
        return detail.startswith("sequence saved as ")
    if any(part in call.path for part in POOL_ROUTES):
        return detail.startswith(("the explainer is busy", "the explanation took longer than the limit"))
    return False


def send(plugin_client: Any, call: Call, *, family: str | None = None, auth: bool = True) -> Any:
    headers = {**(plugin_client.headers() if auth else {}), **call.headers}
    response = plugin_client.client.request(call.method, call.url, content=call.content, headers=headers)
    TABLE[f"{call.method} {call.path}"][response.status_code] += 1
    if family:
        FAMILY_TABLE[family][response.status_code] += 1
    assert response.status_code < 500 or expected_unavailable(call, response), (
        f"{call.describe()}\n-> {response.status_code} {response.text[:2000]}"
    )
    if 400 <= response.status_code < 600:
        problem = error_shape_problem(response)
        assert problem is None, f"{call.describe()}\n-> {response.status_code}: {problem}"
    return response


# -- schema -> strategies ------------------------------------------------------------------
def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped by the schema, its boundaries, and hostile strings where it wants text."""
    schema = resolve(schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of([from_schema(option, depth) for option in options])
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        bounds = [low - 1, low, *( [high, high + 1] if high is not None else [])]
        return st.one_of(
            st.text(min_size=low, max_size=min(high or 20, 20)),
            st.sampled_from([max(n, 0) for n in bounds]).map(lambda n: "a" * n),
            hostile_text,
        )
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        edges = [v for v in (low, high) if v is not None]
        return st.one_of(
            st.integers(min_value=low, max_value=high),
            st.sampled_from([*edges, *(v - 1 for v in edges), *(v + 1 for v in edges), 0, -1, *HUGE_INTS]),
        )
    if kind == "number":
        return st.floats(allow_nan=True, allow_infinity=True)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), depth + 1), max_size=4)
    if kind == "object" and "properties" in schema and depth < 4:
        required = set(schema.get("required", []))
        props = schema["properties"]
        return st.fixed_dictionaries(
            {name: from_schema(props[name], depth + 1) for name in props if name in required},
            optional={name: from_schema(props[name], depth + 1) for name in props if name not in required},
        )
    return json_values  # `Any`, untyped objects


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from json_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from json_paths(child, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, seed: Any) -> Any:
    """A known-good value with up to three leaves replaced, deleted, doubled or nested."""
    value = copy.deepcopy(seed)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(list(json_paths(value))))
        action = draw(st.sampled_from(["hostile", "any", "delete", "extra", "nest", "wrong-type"]))
        if not path:
            value = draw(json_values) if action != "nest" else [[[[value]]]]
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        if action == "hostile":
            parent[key] = draw(hostile_text)
        elif action == "any":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "extra":
            if isinstance(parent, dict):
                parent[draw(hostile_text)] = draw(json_values)
            else:
                parent.append(draw(json_values))
        elif action == "nest":
            parent[key] = {"a": [[parent[key]]]}
        else:
            parent[key] = draw(st.sampled_from([[], {}, None, 0, "", True, *HUGE_INTS, 1e308]))
    return value


URL_VALUE_MAX = 16_000  # encoded characters: httpx refuses URLs over 64 KiB before sending


def encode(value: Any, safe: str = "") -> str:
    """Percent-encode for a URL; a lone surrogate goes as its (invalid) UTF-8 bytes.

    Very long values are cut to fit a URL (a real server answers 414 past its header limit);
    bodies carry the 100 000-character strings whole.
    """
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    encoded = quote(text.encode("utf-8", "surrogatepass"), safe=safe)
    while len(encoded) > URL_VALUE_MAX:
        text = text[: len(text) // 2]
        encoded = quote(text.encode("utf-8", "surrogatepass"), safe=safe)
    return encoded


def body_seeds(world: World, schema: dict[str, Any]) -> list[Any]:
    ref = schema.get("$ref", "").rsplit("/", 1)[-1]
    if ref in world.examples:
        return world.examples[ref]
    if schema.get("type") == "object" and "properties" not in schema:  # the sequence uploads
        return world.examples["sequence"]
    return []


CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.genome+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
]
RAW_BODIES = [b"", b"{", b"\xff\xfe{}", b"null", b"[]", b'"x"', b'{"a":1,}', b"\x00", b"{}" * 1000, b"\xed\xa0\x80"]


@st.composite
def calls(draw: st.DrawFn, world: World, method: str, path: str) -> Call:
    operation = SCHEMA["paths"][path][method.lower()]
    url = path
    query: list[tuple[str, Any]] = []
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        known = world.known.get(name, [])
        pick = st.one_of(from_schema(parameter.get("schema", {})), *([st.sampled_from(known)] * 2 if known else []))
        if where == "path":
            value = draw(pick)
            # "": every byte encoded; "/%": slashes and percent signs go through as they are
            raw = draw(st.sampled_from(["", "", "/%"]))
            url = url.replace("{" + name + "}", encode(value, raw) or "%20")
        elif where == "query" and draw(st.booleans()):
            query.append((name, draw(pick)))
    if draw(st.integers(0, 5)) == 0:  # an unknown or repeated parameter
        query.append((draw(st.sampled_from(["unknown", *(n for n, _ in query)]) if query else st.just("unknown")), draw(hostile_text)))
    if query:
        url += "?" + "&".join(f"{encode(name)}={encode(value)}" for name, value in query)
    call = Call(method, path, url)
    body = operation.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        seeds = body_seeds(world, schema)
        value_strategy = st.one_of(
            from_schema(schema),
            *([st.sampled_from(seeds).flatmap(mutated)] * 3 if seeds else []),
            json_values,
        )
        form = draw(st.sampled_from(["json", "json", "json", "utf-8", "raw"]))
        if form == "raw":
            call.content = draw(st.sampled_from(RAW_BODIES))
        else:
            value = draw(value_strategy)
            text = json.dumps(value, ensure_ascii=form == "json")
            call.content = text.encode("utf-8", "surrogatepass")  # lone surrogates -> invalid UTF-8
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        if content_type:
            call.headers["Content-Type"] = content_type
    return call


# -- the properties ------------------------------------------------------------------------
def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 20
    assert {("POST", "/api/v1/explain"), ("POST", "/api/v1/sequences/run"), ("GET", "/api/v1/models")} <= set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@FUZZ
@given(data=st.data())
def test_fuzz_operation(plugin_client: Any, world: World, method: str, path: str, data: st.DataObject) -> None:
    call = data.draw(calls(world, method, path), label="call")
    send(plugin_client, call)


def _string_slots(world: World, method: str, path: str) -> list[tuple[str, Any]]:
    """Every string field of an operation: (slot name, a function of the hostile string -> Call)."""
    operation = SCHEMA["paths"][path][method.lower()]
    parameters = operation.get("parameters", [])
    defaults = {p["name"]: (world.known.get(p["name"]) or ["1"])[0] for p in parameters}

    def url_with(name: str | None, value: str) -> str:
        url = path
        query = []
        for parameter in parameters:
            chosen = value if parameter["name"] == name else defaults[parameter["name"]]
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", encode(chosen) or "%20")
            elif parameter["name"] == name:
                query.append(f"{encode(parameter['name'])}={encode(chosen)}")
        return url + ("?" + "&".join(query) if query else "")

    slots: list[tuple[str, Any]] = [
        (p["name"], lambda v, n=p["name"]: Call(method, path, url_with(n, v))) for p in parameters
    ]
    body = operation.get("requestBody")
    if body:
        seed = body_seeds(world, body["content"]["application/json"]["schema"])[0]
        for json_path in json_paths(seed):
            leaf = seed
            for step in json_path:
                leaf = leaf[step]
            if not isinstance(leaf, str):
                continue

            def make(value: str, json_path: tuple[Any, ...] = json_path) -> Call:
                document = copy.deepcopy(seed)
                parent = document
                for step in json_path[:-1]:
                    parent = parent[step]
                parent[json_path[-1]] = value
                return Call(
                    method,
                    path,
                    url_with(None, ""),
                    json.dumps(document).encode(),
                    {"Content-Type": "application/json"},
                )

            slots.append(("body." + ".".join(map(str, json_path)), make))
    return slots


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_hostile_string_in_every_string_field(plugin_client: Any, world: World, family: str) -> None:
    value = FAMILIES[family]
    tried = 0
    for method, path in OPERATIONS:
        for _slot, make in _string_slots(world, method, path):
            send(plugin_client, make(value), family=family)
            tried += 1
    assert tried >= 40


def _big_body(method: str, path: str, size: int) -> bytes:
    if "explain" in path:
        return json.dumps({"canonicalName": FOREST, "text": "a" * size}).encode()
    return json.dumps(dict(SEQUENCE, description="a" * size)).encode()


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_oversized_bodies(plugin_client: Any, world: World, method: str, path: str) -> None:
    body = _big_body(method, path, 5 * 1024 * 1024)
    json_header = {"Content-Type": "application/json"}
    declared = send(plugin_client, Call(method, path, path, body, json_header), family="oversized-5MB")
    assert declared.status_code in (413, 422), declared.text[:500]

    # Streamed (chunked, no Content-Length): the limit must hold while reading.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {**plugin_client.headers(), **json_header}
    streamed = plugin_client.client.request(method, path, content=chunks(), headers=headers)
    TABLE[f"{method} {path}"][streamed.status_code] += 1
    FAMILY_TABLE["oversized-5MB-streamed"][streamed.status_code] += 1
    assert streamed.status_code in (413, 422), streamed.text[:500]
    assert error_shape_problem(streamed) is None


@pytest.mark.parametrize("depth", [64, 1_000, 100_000])
@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_deeply_nested_json(plugin_client: Any, world: World, method: str, path: str, depth: int) -> None:
    nested = "[" * depth + "1" + "]" * depth
    if "explain" in path:
        bodies = [nested, f'{{"canonicalName": "{FOREST}", "entries": {nested}}}']
    else:
        step = json.dumps(ECHO_STEP)[:-1] + f', "parameters": {{"deep": {nested}}}}}'
        bodies = [nested, json.dumps(SEQUENCE)[:-1] + f', "steps": [{step}]}}']
    for body in bodies:
        response = send(
            plugin_client,
            Call(method, path, path, body.encode(), {"Content-Type": "application/json"}),
            family=f"nested-{depth}",
        )
        assert response.status_code < 500


HUGE_NUMBER_TEXTS = ["1" + "0" * 5000, "-" + "9" * 4400, "1e999", "-1e999", "1e-999", "123456789" * 50 + ".5"]


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_huge_numbers_in_bodies(plugin_client: Any, world: World, method: str, path: str) -> None:
    for number in HUGE_NUMBER_TEXTS:
        if "explain" in path:
            bodies = [
                f'{{"canonicalName": "{FOREST}", "entries": [[{number}, 0, 0, 0]]}}',
                f'{{"canonicalName": "{FOREST}", "version": {number}, "entries": [[0, 0, 0, 0]]}}',
            ]
        else:
            step = json.dumps(ECHO_STEP)[:-1] + f', "parameters": {{"n": {number}}}, "retry": {number}}}'
            bodies = [json.dumps(SEQUENCE)[:-1] + f', "steps": [{step}]}}']
        for body in bodies:
            send(
                plugin_client,
                Call(method, path, path, body.encode(), {"Content-Type": "application/json"}),
                family="huge-numbers",
            )


def test_huge_numbers_in_queries(plugin_client: Any, world: World) -> None:
    for number in ["9" * 40, "-" + "9" * 40, "1" + "0" * 5000, "1e999", "NaN", "0x10"]:
        forest = quote(FOREST, safe="")
        for template, url in (
            ("/api/v1/models", f"/api/v1/models?limit={number}"),
            ("/api/v1/evaluations", f"/api/v1/evaluations?limit={number}&offset={number}"),
            ("/api/v1/models/{name}/versions/{version}", f"/api/v1/models/{forest}/versions/{number}"),
            (
                "/api/v1/models/{name}/versions/{version}/visualizations/tree",
                f"/api/v1/models/{forest}/versions/1/visualizations/tree?index={number}",
            ),
        ):
            send(plugin_client, Call("GET", template, url), family="huge-numbers")


# -- the cross-site request guard ----------------------------------------------------------
def _write_call(method: str, path: str) -> Call:
    url = path.replace("{dag_id}", "fuzz-pipe")
    body = json.dumps({"canonicalName": FOREST, "entries": [ROW]} if "explain" in path else SEQUENCE)
    content = None if method == "DELETE" else body.encode()
    return Call(method, path, url, content, {"Content-Type": "application/json"})


CSRF_REFUSED = [
    ("no Origin or Referer", {}),
    ("foreign Origin", {"Origin": "http://evil.example"}),
    ("foreign Referer", {"Referer": "http://evil.example/page"}),
    ("look-alike Origin", {"Origin": "http://testserver.evil.example"}),
    ("userinfo Origin", {"Origin": "http://testserver@evil.example"}),
    ("null Origin", {"Origin": "null"}),
    # A browser re-sends cached HTTP Basic credentials (a proxy's login) on cross-site
    # requests, and Airflow then still authenticates by the cookie: not a bearer token.
    ("cached Basic credentials", {"Authorization": "Basic dXNlcjpwYXNz", "Origin": "http://evil.example"}),
    ("empty Bearer", {"Authorization": "Bearer "}),
]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_cookie_writes_need_our_origin(plugin_client: Any, world: World, method: str, path: str) -> None:
    """Every write authenticated only by the UI's `_token` cookie is refused (403) unless it
    comes from this site, and a refused write changes nothing."""
    before = sorted(p.name for p in world.uploads.iterdir())
    plugin_client.client.cookies.set("_token", plugin_client.tokens["admin"])
    try:
        for label, headers in CSRF_REFUSED:
            call = _write_call(method, path)
            call.headers.update(headers)
            response = send(plugin_client, call, family="csrf-cross-site", auth=False)
            assert response.status_code == 403, (label, response.status_code, response.text)
            assert sorted(p.name for p in world.uploads.iterdir()) == before, label
        same_site = _write_call(method, path)
        same_site.headers["Origin"] = "http://testserver"
        response = send(plugin_client, same_site, family="csrf-same-site", auth=False)
        assert response.status_code != 403, response.text
    finally:
        plugin_client.client.cookies.clear()
    if method == "DELETE":  # the same-site delete went through: put the sequence back
        from airgenome.sequence.uploads import UploadStore

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRGENOME_UPLOADS_FOLDER", str(world.uploads))
            UploadStore().write("fuzz-pipe", json.dumps(SEQUENCE).encode())


# -- the pages (not in the schema): hostile path and query values --------------------------
PAGES = [
    "/models/{v}",
    "/models/{v}/versions/{v}",
    "/evaluations/{v}",
    "/sequences/{v}",
    "/sequences?edit={v}",
    "/models?canonicalName={v}&pageToken={v}",
    "/evaluations?name={v}&since={v}&offset={v}",
    "/components?q={v}",
]


@pytest.mark.parametrize("page", PAGES)
@FUZZ
@given(value=st.one_of(hostile_text, st.sampled_from([FOREST, "fuzz-pipe", "1", "latest"])), raw=st.sampled_from(["", "/%"]))
def test_fuzz_pages(plugin_client: Any, world: World, page: str, value: str, raw: str) -> None:
    url = page.replace("{v}", encode(value, raw if "?" not in page else "") or "%20")
    response = plugin_client.client.get(url, headers=plugin_client.headers())
    TABLE[f"GET {page.split('?')[0]} (page)"][response.status_code] += 1
    assert response.status_code < 500, f"{url[:300]!r} -> {response.status_code} {response.text[:2000]}"


# -- regressions found by this fuzzer ------------------------------------------------------
BAD_PAGE_TOKENS = [
    "\x80",  # non-ASCII: MLflow's parser raised a bare ValueError -> 500
    "bnVsbA==",  # base64("null"): AttributeError -> 500
    "WzFd",  # base64("[1]"): AttributeError -> 500
    "eyJvZmZzZXQiOiAxZTMwMH0=",  # {"offset": 1e300}: SQLite overflow -> 503 "model store error"
    "eyJvZmZzZXQiOiAtMX0=",  # {"offset": -1}
    "abc",  # not base64: MLflow's own 422 already
]


@pytest.mark.parametrize("token", BAD_PAGE_TOKENS)
def test_bad_page_token_is_422_naming_the_field(plugin_client: Any, world: World, token: str) -> None:
    url = f"/api/v1/models?pageToken={encode(token)}"
    response = send(plugin_client, Call("GET", "/api/v1/models", url))
    assert response.status_code == 422, response.text
    # "abc" is refused by MLflow's own parser, which names the token too
    assert response.json()["detail"].startswith(("pageToken:", "model search: Invalid page token")), response.text
    page = plugin_client.client.get(f"/models?pageToken={encode(token)}", headers=plugin_client.headers())
    assert page.status_code == 200 and "page token" in page.text  # the page shows the message


@pytest.mark.parametrize(
    "body",
    [
        '{"canonicalName": "/tests/fuzz/forest", "version": 1e999, "entries": [[0, 0, 0, 0]]}',
        '{"canonicalName": NaN, "entries": [[0, 0, 0, 0]]}',
        '{"canonicalName": "/tests/fuzz/forest", "version": ["\\ud800"], "entries": [[0, 0, 0, 0]]}',
    ],
)
def test_a_422_echoing_non_finite_or_surrogate_input_renders(plugin_client: Any, world: World, body: str) -> None:
    """FastAPI's own 422 echoes the bad input; inf/NaN and lone surrogates made it a 500."""
    call = Call("POST", "/api/v1/explain", "/api/v1/explain", body.encode(), {"Content-Type": "application/json"})
    response = send(plugin_client, call)
    assert response.status_code == 422, response.text
    assert [error["loc"][:2] for error in response.json()["detail"]][0] in (["body", "version"], ["body", "canonicalName"])


@pytest.mark.parametrize("path", [p for m, p in WITH_BODY if "sequence" in p])
def test_a_lone_surrogate_in_a_sequence_is_a_422_naming_the_field(plugin_client: Any, world: World, path: str) -> None:
    """Stamping createdAt re-encoded the spec as UTF-8 and failed: a 500, a file never written."""
    body = json.dumps(dict(SEQUENCE, description="a\ud800b")).encode()  # the \ud800 JSON escape
    response = send(plugin_client, Call("POST", path, path, body, {"Content-Type": "application/json"}))
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("description: contains a lone UTF-16 surrogate")


def test_a_250_character_dag_id_is_stored(plugin_client: Any, world: World) -> None:
    """The temp file's name (`.<dag_id>.<random>.tmp`) passed the 255-byte limit: a 500."""
    name = "p" * 250
    body = json.dumps(dict(SEQUENCE, pipelineName=name, canonicalName=f"/search/{name}")).encode()
    call = Call("POST", "/api/v1/sequences", "/api/v1/sequences", body, {"Content-Type": "application/json"})
    response = send(plugin_client, call)
    assert response.status_code in (201, 422), response.text  # stored, or refused by the validator
    if response.status_code == 201:
        assert (world.uploads / f"{response.json()['dag_id']}.json").exists()


@pytest.mark.parametrize("version", ["9" * 40, "9223372036854775808", "1" + "0" * 5000, "\u00b2"])
def test_an_impossible_version_number_is_404(plugin_client: Any, world: World, version: str) -> None:
    """A 40-digit version reached SQLite (integer overflow: 503 "model store error"); '²' is a
    digit to str.isdigit but not to int(), nor is a 5001-digit number (both a 500)."""
    url = f"/api/v1/models/{quote(FOREST, safe='')}/versions/{encode(version)}"
    response = send(plugin_client, Call("GET", "/api/v1/models/{name}/versions/{version}", url))
    assert response.status_code == 404, response.text
