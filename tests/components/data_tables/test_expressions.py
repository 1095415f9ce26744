"""The safe expression language: CLAIMED's texts accepted verbatim, hostile ones refused at
lint (pydantic model, sequence upload validation) and at run (exit 2), with no side effect;
property-based agreement with pandas' own evaluation of the same text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airgenome.components import registry
from airgenome.components.data import expressions as ex
from airgenome.components.data.tables import FilterParameters, SparkApplyParameters, TransformParameters
from airgenome.components.runtime import EXIT_BAD_INPUT, main
from airgenome.errors import InvalidInput
from airgenome.sequence.validate import parse_sequence
from tests.components.data_tables.conftest import claimed_metadata, env

MARKER = Path("/tmp/airgenome-expression-pwned")

# Each would do something (write /tmp/..., import, reach object internals, burn CPU or memory)
# if a Python interpreter ran it. None may run.
HOSTILE: list[str] = [
    f"__import__('os').system('touch {MARKER}')",
    f"open('{MARKER}', 'w').write('x')",
    "().__class__.__bases__[0].__subclasses__()",
    f"metadata.__class__.__init__.__globals__['os'].system('touch {MARKER}')",
    "metadata.filename.__class__",
    "metadata._data",
    "metadata.filename.str.__dict__",
    "getattr(metadata, 'to_csv')('/tmp/airgenome-expression-pwned')",
    f"metadata.to_csv('{MARKER}')",
    f"metadata.filename.to_csv('{MARKER}')",
    "metadata.filename.apply(print)",
    "metadata.filename.pipe(eval, 'print(1)')",
    "eval(\"__import__('os')\")",
    "exec('import os')",
    "compile('1', 'x', 'eval')",
    "globals()",
    "os.system('id')",
    "lambda: metadata",
    "[c for c in metadata.filename]",
    "{c: 1 for c in 'ab'}",
    "(x := 1)",
    "f'{metadata.filename}'",
    "print(*metadata.filename)",
    "metadata.filename.str.contains(**{'pat': 'x'})",
    "2**10**10",
    "metadata.age > 9**9**9",
    "'a' * 10**9 == metadata.filename",
    "metadata.filename.str.contains('(a+)+$')",
    "metadata.filename.str.match('(x|x)*(.*)*y')",
    "metadata.filename.str.contains('(a)\\\\1')",
    "metadata.filename.str.contains('" + "a" * 20_000 + "')",
    "metadata.filename == '" + "a" * 10_001 + "'",
    "metadata.age.isin([" + ",".join(["1"] * 10_001) + "])",
    "abs(" * 40 + "metadata.age" + ")" * 40 + " > 1",
    "~" * 60 + "metadata.age.isna()",
    " & ".join(["(metadata.age > 1)"] * 300),
    "metadata.age.str.zfill(10**9) == 'x'",
    "metadata.filename.str.cat(sep='x') == 'y'",
    "metadata.filename in ['a']",
    "metadata.age is None",
    "metadata.age == None",
    "metadata",
    "x.replace('/', '_')",  # x exists only in transforms
    "metadata.filename.str.contains('.gz') if True else 1",
    "__builtins__",
    "metadata['__class__']",
    "metadata.age.astype('object') == 1",
    "b'abc' == metadata.filename",
    "1j == metadata.age",
    "metadata.age @ metadata.age",
    "metadata.age << 2 > 1",
    "not",
    "",
    "import os",
]


def test_there_are_at_least_30_hostile_texts() -> None:
    assert len(HOSTILE) >= 30
    assert len(set(HOSTILE)) == len(HOSTILE)


# ------------------------------------------------------------------ CLAIMED's texts
def test_claimed_predicate_is_accepted_verbatim_and_keeps_the_non_gz_rows() -> None:
    frame = claimed_metadata()
    plan = ex.compile_predicate("~metadata.filename.str.contains('.gz')")
    assert plan.columns == ("filename",)
    assert plan.root == ex.Unary("invert", ex.Method("str", "contains", ex.Column("filename"), (ex.Literal(".gz"),)))
    mask = ex.predicate_mask(plan, frame)
    assert mask.tolist() == [not name.endswith(".gz") for name in frame["filename"]]
    # the same as pandas evaluating the text itself (what CLAIMED's exec did)
    assert mask.tolist() == (~frame.filename.str.contains(".gz")).tolist()


def test_claimed_transform_replaces_slashes_in_the_whole_column() -> None:
    frame = claimed_metadata()
    plan = ex.compile_expression("x.replace('/', '_')")
    assert plan.root == ex.Method("str", "replace", ex.Value(), (ex.Literal("/"), ex.Literal("_")))
    values = ex.evaluate(plan, frame, frame["finding"])
    assert values.tolist() == [f.replace("/", "_") for f in frame["finding"]]
    assert values.tolist()[0] == "Pneumonia_Viral_COVID-19"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata['finding'] == 'No Finding'", [False, False, False, False, True, False, False, False]),
        ("metadata.age.between(40, 70) & metadata.sex.isin(['F'])", [False, True, False, False, False, True, True, False]),
        ("metadata.age.isna() | (metadata.age > 70)", [False, False, True, True, False, False, False, False]),
        ("not metadata.finding.str.startswith('Pneumonia/Viral')", [False, False, False, True, True, False, True, False]),
        ("30 < metadata.age <= 52", [False, True, False, False, False, True, False, True]),
        ("metadata.age.fillna(0) * 2 >= 120", [True, False, False, True, False, False, True, False]),
        ("len(metadata.filename) > 30", [True, False, False, False, False, False, False, False]),
        ("where(metadata.sex == 'F', metadata.age, 0) > 50", [False, True, False, False, False, False, True, False]),
        ("metadata.filename.str.lower().str.endswith('.jpg') and metadata.sex.notna()", [False, False, True, False, False, True, True, False]),
        ("metadata.sex.str.contains('M', na=False)", [True, False, True, True, False, False, False, True]),
    ],
)
def test_predicates(text: str, expected: list[bool]) -> None:
    assert ex.predicate_mask(ex.compile_predicate(text), claimed_metadata()).tolist() == expected


def test_a_custom_table_name_is_the_only_table_variable() -> None:
    assert ex.compile_predicate("df.age > 1", table_name="df").columns == ("age",)
    with pytest.raises(ValueError, match="unknown name 'metadata'"):
        ex.compile_predicate("metadata.age > 1", table_name="df")


def test_errors_carry_the_position_of_the_offending_part() -> None:
    with pytest.raises(ex.ExpressionError) as caught:
        ex.compile_predicate("(metadata.age > 1) & (metadata.filename.upper() == 'X')")
    assert caught.value.position == (1, 41)
    assert "method 'upper' is not allowed" in str(caught.value)
    assert "(text methods go through .str" in str(caught.value)
    assert str(caught.value).endswith("(at column 41)")
    with pytest.raises(ex.ExpressionError, match=r"combine conditions, not literals \(at column 16\)"):
        ex.compile_predicate("metadata.age > 1 & metadata.sex.isna()")  # & binds before >: as in pandas
    with pytest.raises(ex.ExpressionError, match=r"at line 2, column 1"):
        ex.compile_predicate("(metadata.age > 1) & (\nopen('x') == 1)")


def test_missing_columns_are_named_with_the_tables_columns() -> None:
    with pytest.raises(ex.EvaluationError, match=r"column 'findings' not in the table \(its columns: patientid, filename"):
        ex.evaluate(ex.compile_predicate("metadata.findings == 'x'"), claimed_metadata())


def test_x_methods_need_text_at_run_time() -> None:
    frame = claimed_metadata()
    with pytest.raises(ex.EvaluationError, match="x.replace\\(\\) needs text; 'age' holds float64"):
        ex.evaluate(ex.compile_expression("x.replace('/', '_')"), frame, frame["age"])


# ------------------------------------------------------------------ hostile texts
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_texts_are_refused_by_the_parameter_models(text: str) -> None:
    MARKER.unlink(missing_ok=True)
    for model, values in (
        (FilterParameters, {"predicate": text}),
        (SparkApplyParameters, {"predicate": text}),
    ):
        parsed, problems = _spec_for(model).validate_parameters(values)
        assert parsed is None and [p.path for p in problems] == ["predicate"], (text, problems)
    if "x." not in text:
        transform = {"column": "finding", "expression": text.replace("metadata.age >", "x >")}
        parsed, problems = registry.get("transform.apply").validate_parameters(transform)
        assert parsed is None and [p.path for p in problems] == ["expression"], (text, problems)
    assert not MARKER.exists()


def _spec_for(model: type) -> registry.ComponentSpec:
    return registry.get({FilterParameters: "filter.rows", SparkApplyParameters: "spark.apply", TransformParameters: "transform.apply"}[model])


def test_hostile_texts_are_refused_at_upload_by_path_and_nothing_runs() -> None:
    MARKER.unlink(missing_ok=True)
    steps: list[dict[str, Any]] = [{"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris"}}]
    for index, text in enumerate(HOSTILE):
        steps.append(
            {"stepName": f"f{index}", "component": "filter.rows", "parameters": {"predicate": text}, "inputs": {"table": "load.table"}}
        )
    with pytest.raises(InvalidInput) as caught:
        parse_sequence({"pipelineName": "p", "application": "app", "steps": steps})
    paths = {item["loc"] for item in caught.value.details}
    assert paths == {f"steps[{i + 1}].parameters.predicate" for i in range(len(HOSTILE))}
    assert not MARKER.exists()


def test_a_good_sequence_passes_upload_validation() -> None:
    steps = [
        {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris"}},
        {"stepName": "filter", "component": "filter.rows", "parameters": {"predicate": "~metadata.filename.str.contains('.gz')"}, "inputs": {"table": "load.table"}},
        {"stepName": "fix", "component": "transform.apply", "parameters": {"column": "finding", "expression": "x.replace('/', '_')"}, "inputs": {"table": "filter.table"}},
    ]
    assert parse_sequence({"pipelineName": "p", "application": "app", "steps": steps}).steps


def test_text_repetition_unknowable_at_lint_is_refused_at_run_before_anything_is_written(
    tmp_path: Path, metadata_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["filter.rows"], env(tmp_path, {"predicate": "metadata.filename * 1000000000 == 'x'"}, metadata_uri))
    assert code == 1
    assert "'*' on text (string repetition) is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", HOSTILE[:12] + HOSTILE[24:30], ids=list(range(12)) + list(range(24, 30)))
def test_hostile_texts_are_refused_at_run_with_exit_2_and_nothing_written(
    tmp_path: Path, metadata_uri: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    MARKER.unlink(missing_ok=True)
    code = main(["filter.rows"], env(tmp_path, {"predicate": text}, metadata_uri))
    assert code == EXIT_BAD_INPUT
    assert "parameters.predicate:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "result.json").exists()
    assert not MARKER.exists()


# ------------------------------------------------------------------ property-based
_COLUMNS = ["metadata.a", "metadata['b']", "metadata.c"]
numbers = st.recursive(
    st.sampled_from(_COLUMNS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), st.one_of(inner, st.integers(-5, 5).map(str))).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(["/", "//", "%"]), st.integers(1, 5).map(str)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"abs({e})"),
        inner.map(lambda e: f"{e}.abs()"),
        inner.map(lambda e: f"(-{e})"),
        inner.map(lambda e: f"{e}.fillna(0)"),
        inner.map(lambda e: f"{e}.round(1)"),
    ),
    max_leaves=4,
)
conditions = st.recursive(
    st.one_of(
        st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.integers(-10, 10).map(str)).map(" ".join),
        st.tuples(numbers, st.sampled_from(["<", ">="]), numbers).map(" ".join),
        st.sampled_from(["a", "b", "ab", ".", "x"]).map(lambda p: f"metadata.s.str.contains('{p}')"),
        st.sampled_from(["a", "b"]).map(lambda p: f"metadata.s.str.startswith('{p}')"),
        st.lists(st.integers(-3, 3), min_size=1, max_size=4).map(lambda v: f"metadata.a.isin({v})"),
        st.tuples(st.integers(-5, 0), st.integers(0, 5)).map(lambda t: f"metadata.c.between({t[0]}, {t[1]})"),
        st.just("metadata.c.isna()"),
        st.just("metadata.s.str.len() > 1"),
    ),
    lambda inner: st.one_of(
        inner.map(lambda e: f"~({e})"),
        st.tuples(inner, st.sampled_from(["&", "|"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    ),
    max_leaves=4,
)
tables = st.integers(1, 30).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "a": st.lists(st.integers(-20, 20), min_size=n, max_size=n),
            "b": st.lists(st.integers(-1000, 1000), min_size=n, max_size=n),
            "c": st.lists(st.one_of(st.none(), st.floats(-50, 50, allow_nan=False)), min_size=n, max_size=n),
            "s": st.lists(st.text(alphabet="abx.", max_size=4), min_size=n, max_size=n),
        }
    )
).map(pd.DataFrame)


def _oracle(text: str, frame: pd.DataFrame) -> Any:
    """TEST ORACLE ONLY: pandas evaluating the generated (known-safe) text itself, as
    CLAIMED's exec did. Product code never does this."""
    return eval(text, {"__builtins__": {}, "abs": abs}, {"metadata": frame})  # noqa: S307


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=tables, text=conditions)
def test_safe_predicates_equal_pandas_own_evaluation(frame: pd.DataFrame, text: str) -> None:
    frame = frame.astype({"c": "float64"})
    expected = _oracle(text, frame)
    got = ex.evaluate(ex.compile_predicate(text), frame)
    pd.testing.assert_series_equal(got, expected, check_names=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=tables, text=numbers)
def test_safe_expressions_equal_pandas_own_evaluation(frame: pd.DataFrame, text: str) -> None:
    frame = frame.astype({"c": "float64"})
    expected = _oracle(text, frame)
    got = ex.evaluate(ex.compile_expression(text), frame)
    pd.testing.assert_series_equal(got, expected, check_names=False)


@settings(max_examples=20, deadline=None)
@given(frame=tables, old=st.sampled_from(["a", ".", "x", "ab"]), new=st.sampled_from(["_", "", "yy"]))
def test_x_replace_equals_python_replace_on_each_value(frame: pd.DataFrame, old: str, new: str) -> None:
    got = ex.evaluate(ex.compile_expression(f"x.replace({old!r}, {new!r})"), frame, frame["s"])
    assert got.tolist() == [value.replace(old, new) for value in frame["s"]]


def test_the_plan_is_data_not_code() -> None:
    plan = ex.compile_predicate("~metadata.filename.str.contains('.gz')")
    assert json.dumps(repr(plan.root))  # a tree of dataclasses: printable, comparable, no code objects
    assert plan == ex.compile_predicate("~metadata.filename.str.contains('.gz')")
