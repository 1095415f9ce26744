"""The bad-spec corpus: every rule, every offender named by its JSON path, in ONE error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airgenome.components import registry
from airgenome.errors import InvalidInput, PayloadTooLarge
from airgenome.sequence.validate import parse_sequence
from tests.sequence.helpers import echo, spec

KNOWN = ", ".join(registry.names())
assert {"genome.echo", "genome.fail", "sklearn.train-forest"} <= registry.REGISTRY.all_names()


def _errors(raw: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_sequence(raw, **kwargs)
    details = caught.value.details
    for item in details:  # the message lists every detail with its path
        assert f"{item['loc']}: {item['msg']}" in caught.value.message
    return {item["loc"]: item["msg"] for item in details}


def test_malformed_json_points_at_the_position() -> None:
    assert _errors(b'{"pipelineName": "p",\n "steps": [}') == {
        "$": "not valid JSON: Expecting value at line 2 column 12"
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1, 2]", "a sequence is a JSON object, not list"),
        (b'{"a": 1, "a": 2}', "not valid JSON: duplicate key 'a'"),
        (b'{"a": NaN}', "not valid JSON: NaN is not valid JSON"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
    ],
)
def test_documents_that_are_not_sequences(raw: bytes, message: str) -> None:
    assert _errors(raw) == {"$": message}


def test_missing_required_fields_and_unknown_fields() -> None:
    errors = _errors({"steps": [{"stepType": "model", "component": "genome.echo", "timout": "1s"}]})
    assert errors == {
        "pipelineName": "required field is missing",
        "application": "required field is missing",
        "steps[0].stepName": "required field is missing",
        "steps[0].timout": "unknown field; did you mean 'timeout'?",
    }


def test_every_offender_in_one_error_with_paths() -> None:
    document = spec(
        [
            echo("a", timeout="1x", retry="-1"),
            [[echo("b1"), echo("a")], echo("c", parameters={"pw": "{{ conn.x.password }}"})],
            [],
            echo("d d"),
            echo("d_d"),
            echo("parallel_1"),
            {"stepName": "e", "command": "rm -rf /"},
            {"stepName": "f", "component": "os.system"},
            42,
        ],
        schedule="abc",
    )
    assert _errors(document) == {
        "schedule": "'abc' is not a schedule: use a duration (30m, 6h, 1d), a 5-field cron "
        "expression ('0 3 * * *') or a preset (@daily)",
        "steps[0].timeout": "'1x' is not a duration like 360s, 30m, 6h or 1d",
        "steps[0].retry": "'-1' is not a retry count (a whole number >= 0) like \"3\"",
        "steps[1][0][1].stepName": "duplicate step name 'a' (also at steps[0])",
        "steps[1][1].parameters.pw": "contains '{{': template syntax is not allowed "
        "(Airflow would render it and could expose connections or variables)",
        "steps[2]": "a parallel group must not be empty",
        "steps[4].stepName": "'d_d' becomes task id 'd_d', as does 'd d' at steps[3]: rename one "
        "(characters outside A-Z a-z 0-9 _ - become _)",
        "steps[5].stepName": "'parallel_1' is reserved for a parallel group's id "
        "(parallel_<position>); rename it",
        "steps[6].command": 'command is an argv list like ["python", "train.py"], not a shell string',
        "steps[7].component": f"'os.system' is not a known component (known: {KNOWN})",
        "steps[8]": "must be a step object, or a list of steps (a parallel group)",
    }


@pytest.mark.parametrize("value", ["{{ conn.x.password }}", "{% for x in y %}", "a{{b"])
@pytest.mark.parametrize(
    ("where", "build"),
    [
        ("steps[0].parameters.token", lambda v: spec([echo("a", parameters={"token": v})])),
        ("steps[0].env.X", lambda v: spec([echo("a", env={"X": v})])),
        ("steps[0].datasets[0].ref", lambda v: spec([echo("a", datasets=[{"ref": v}])])),
        ("description", lambda v: spec([echo("a")], description=v)),
        ("steps[0].command[1]", lambda v: spec([{"stepName": "a", "command": ["echo", v]}])),
    ],
)
def test_template_syntax_anywhere_is_rejected(value: str, where: str, build: Any) -> None:
    errors = _errors(build(value))
    assert list(errors) == [where]
    assert "template syntax is not allowed" in errors[where]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0h", "'0h' must be longer than zero"),
        ("-1h", "'-1h' is not a duration like 360s, 30m, 6h or 1d"),
        ("1s", "'1s' is shorter than the minimum schedule period of 60s"),
        ("@every", "'@every' is not a known preset (use one of @once, @hourly, @daily, @weekly, "
                   "@monthly, @quarterly, @yearly, @annually)"),
        ("61 * * * *", "'61 * * * *' is not a schedule: use a duration (30m, 6h, 1d), a 5-field "
                       "cron expression ('0 3 * * *') or a preset (@daily)"),
        (6, "6 is not a schedule (a string like 6h, '0 3 * * *', @daily or {\"assets\": [...]})"),
    ],
)
def test_bad_schedules(value: Any, message: str) -> None:
    assert _errors(spec([echo("a")], schedule=value)) == {"schedule": message}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", "0s", "'0s' must be longer than zero"),
        ("timeout", "8d", "'8d' is longer than the maximum timeout of 604800s"),
        ("timeout", True, "True is not a duration like 360s, 30m, 6h or 1d"),
        ("retry", "three", "'three' is not a retry count (a whole number >= 0) like \"3\""),
        ("retry", "11", "'11' is more than the maximum of 10 retries"),
        ("retry", 2.5, "2.5 is not a retry count like \"3\""),
    ],
)
def test_bad_durations_and_retries(field: str, value: Any, message: str) -> None:
    assert _errors(spec([echo("a", **{field: value})])) == {f"steps[0].{field}": message}


@pytest.mark.parametrize(
    ("resources", "loc", "message"),
    [
        ({"gpu": -1}, "gpu", "-1 is not a GPU count (a whole number >= 0)"),
        ({"gpu": 1.5}, "gpu", "1.5 is not a GPU count (a whole number >= 0)"),
        ({"gpu": "1"}, "gpu", "'1' is not a GPU count (a whole number >= 0)"),
        ({"cpu": "lots"}, "cpu", "'lots' is not a CPU quantity like 2, 0.5 or 500m"),
        ({"memory": "2 GB"}, "memory", "'2 GB' is not a memory quantity like 512Mi or 2Gi"),
        ({"disk": "1Gi"}, "disk", "unknown field (known: cpu, gpu, memory)"),
    ],
)
def test_bad_resources(resources: dict[str, Any], loc: str, message: str) -> None:
    assert _errors(spec([echo("a", resources=resources)])) == {f"steps[0].resources.{loc}": message}


def test_gpu_steps_that_could_never_get_slots_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "2")
    document = spec([echo("fits", resources={"gpu": 2}), [echo("big", resources={"gpu": 3})]])
    assert _errors(document) == {
        "steps[1][0].resources.gpu": "asks for 3 GPU(s) but the GPU pool 'gpu' has 2 slot(s) "
        "(AIRGENOME_GPU_SLOTS / [airgenome] gpu_slots): it would wait forever",
    }
    monkeypatch.delenv("AIRGENOME_GPU_SLOTS")
    assert "steps[0].resources.gpu" in _errors(document)  # default: no GPUs at all


def test_gpu_steps_cannot_leave_the_gpu_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "8")
    assert _errors(spec([echo("a", resources={"gpu": 1}, pool="cheap")])) == {
        "steps[0].pool": "GPU steps run in the GPU pool 'gpu', not 'cheap'"
    }


def test_limits_on_steps_width_and_name_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_MAX_STEPS", "5")
    monkeypatch.setenv("AIRGENOME_MAX_GROUP_WIDTH", "3")
    document = spec([echo("x" * 101), [echo(f"p{i}") for i in range(4)], echo("z")])
    assert _errors(document) == {
        "steps": "6 steps; the limit is 5",
        "steps[0].stepName": "is 101 characters; the limit is 100",
        "steps[1]": "parallel group of 4 members; the limit is 3",
    }


def test_huge_bodies_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = json.dumps(spec([echo("a", parameters={"blob": "x" * 300_000})])).encode()
    with pytest.raises(PayloadTooLarge, match=r"the limit is 262144 bytes") as caught:
        parse_sequence(raw)
    assert caught.value.details[0]["loc"] == "$"
    monkeypatch.setenv("AIRGENOME_MAX_SEQUENCE_BYTES", "100")
    with pytest.raises(PayloadTooLarge, match=r"the limit is 100 bytes"):
        parse_sequence(spec([echo("a"), echo("b"), echo("c")]))


def test_kubernetes_mode_needs_allowed_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "registry.corp/genome/*, ensemble-training:*")
    document = spec([
        {"stepName": "ok", "image": "registry.corp/genome/train:1"},
        {"stepName": "genome", "image": "ensemble-training:local.3"},
        {"stepName": "evil", "image": "docker.io/evil/miner:latest"},
        {"stepName": "none", "component": "genome.echo"},
    ])
    assert _errors(document, mode="kubernetes") == {
        "steps[2].image": "'docker.io/evil/miner:latest' is not in the allowed images "
        "(registry.corp/genome/*, ensemble-training:*; AIRGENOME_ALLOWED_IMAGES)",
        # a component step without an image runs in its component's image, which must be allowed too
        "steps[3].image": "'airgenome/component-cpu:0.1.0' is not in the allowed images "
        "(registry.corp/genome/*, ensemble-training:*; AIRGENOME_ALLOWED_IMAGES)",
    }


def test_local_mode_needs_something_to_run() -> None:
    assert _errors(spec([{"stepName": "a", "image": "unknown/thing:1"}, {"stepName": "b"}])) == {
        "steps[0]": "cannot run in local mode: image 'unknown/thing:1' packages no catalogued "
        f"component; set component (one of {KNOWN}) or command",
        "steps[1]": "cannot run in local mode: it has neither component, command nor image; set "
        f"component (one of {KNOWN}) or command",
    }


def test_env_names_and_reserved_variables() -> None:
    assert _errors(spec([echo("a", env={"STEP_NAME": "spoof"})])) == {
        "steps[0].env": "STEP_NAME is set by the sequencer for every step; rename it"
    }
    assert _errors(spec([echo("b", env={"1BAD": "x"})])) == {
        "steps[0].env": "'1BAD' is not an environment variable name (letters, digits, _)"
    }


def test_no_field_can_name_python_code() -> None:
    errors = _errors(spec([echo("a", component="airgenome.sequence.builtin_components:echo")]))
    assert errors["steps[0].component"].startswith("'airgenome.sequence.builtin_components:echo' is not a known component")
    assert list(_errors(spec([echo("a", python_callable="os.system")]))) == ["steps[0].python_callable"]


def test_execution_mode_is_a_platform_setting_not_a_spec_field() -> None:
    errors = _errors(spec([echo("a")], mode="local"))
    assert list(errors) == ["mode"]
    assert errors["mode"].startswith("unknown field")


def test_pathological_nesting_is_a_422_not_a_crash() -> None:
    deep = '{"pipelineName": "p", "application": "a", "steps": ' + "[" * 400 + "]" * 400 + "}"
    assert _errors(deep) == {"steps[0][0][0][0][0][0][0][0][0]": "nested deeper than 8 levels"}
    deeper = '{"pipelineName": "p", "application": "a", "steps": ' + "[" * 5000 + "]" * 5000 + "}"
    assert _errors(deeper) == {"$": "nested too deeply to be a sequence"}


@pytest.mark.parametrize("escaped", ["\\u007b\\u007b conn.x.password }}", "{\\u0025 if 1 %}", "\\u007B{ var }}"])
def test_template_syntax_spelled_with_json_escapes_is_still_found(escaped: str) -> None:
    head = '{"pipelineName": "p", "application": "a", "steps": [{"stepName": "a", "command": ["x"], '
    raw = head + '"parameters": {"q": "' + escaped + '"}}]}'
    assert list(_errors(raw.encode())) == ["steps[0].parameters.q"]
