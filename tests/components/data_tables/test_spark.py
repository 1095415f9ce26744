"""spark.apply: the same plans as native Spark columns agree with pandas; the component reads
and writes the same Parquet tables; its SparkApplication manifest validates strictly.
ONE Spark session for the module (a start costs ~10 s)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airgenome.components.data import expressions as ex
from airgenome.components.data import spark as sp
from airgenome.components.data.spark_application import (
    InvalidManifest,
    application_name,
    render_manifest,
    strict_schema,
    validate_manifest,
)
from airgenome.components.files import read_table
from airgenome.components.runtime import EXIT_OK, main
from tests.components.data_tables.conftest import claimed_metadata, env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    spark = sp.start_session("local[2]", app_name="airgenome-tests")
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def frames(session: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    frame = claimed_metadata()
    frame["id"] = range(len(frame))
    frame["score"] = [0.5, -1.25, 2.0, None, 3.5, -0.5, 1.0, 2.5]
    frame["when"] = pd.to_datetime(["2020-01-28", "2020-02-03", "2020-03-15", "2020-03-31", "2021-06-01", "2020-12-31", "2020-02-29", "2021-01-01"])
    path = tmp_path_factory.mktemp("spark") / "table.parquet"
    # Spark cannot read pandas' default nanosecond timestamps (PARQUET_TYPE_ILLEGAL): microseconds
    frame.to_parquet(path, index=False, coerce_timestamps="us")
    # both backends read the same file
    return pd.read_parquet(path), session.read.parquet(str(path))


PREDICATES = [
    "~metadata.filename.str.contains('.gz')",
    "metadata.filename.str.contains('.GZ', case=False, regex=False)",
    "metadata.finding.str.contains('Viral/(COVID|SARS)')",
    "metadata['finding'] == 'No Finding'",
    "metadata.age != 52",
    "metadata.age.between(40, 70) & metadata.sex.isin(['F'])",
    "metadata.age.isna() | (metadata.age > 70)",
    "not metadata.finding.str.startswith('Pneumonia/Viral')",
    "30 < metadata.age <= 52",
    "metadata.age.fillna(0) * 2 >= 120",
    "len(metadata.filename) > 25",
    "metadata.sex.str.endswith('M', na=False) or metadata.score < 0",
    "metadata.filename.str.match('ct-')",
    "metadata.filename.str.fullmatch('[a-z0-9-]+\\\\.jpg')",
    "(metadata.patientid % 3 == 1) | (metadata.patientid // 4 == 1)",
    "metadata.score.abs().round(0) == 2",
    "metadata.when.dt.year == 2020",
    "metadata.when.dt.dayofweek == 0",
    "metadata.when.dt.is_month_end",
    "where(metadata.sex == 'F', metadata.age, 0) > 50",
    "metadata.finding.str.lower().str.count('pneumo') == 2",
    "metadata.filename.str.find('scan') == 3",
    "metadata.filename.str.slice(0, 2) == 'ct'",
]
EXPRESSIONS = [
    ("finding", "x.replace('/', '_')"),
    ("finding", "x.lower().replace('pneumonia', 'p')"),
    ("finding", "x + ' (' + metadata.sex.fillna('?') + ')'"),
    ("age", "x.fillna(-1) / 2"),
    ("age", "coalesce(x, metadata.score)"),
    ("score", "x.clip(0, 2)"),
    ("score", "round(x * 3, 1)"),
    ("filename", "x.str.strip('.jpeg')"),
    ("filename", "x[0:4]"),
    ("finding", "metadata.finding.str.replace('Pneumonia/', '', regex=True)"),
    ("patientid", "x.astype('float64') ** 2 - 1"),
    ("sex", "x.replace('M', 'male')"),
]


def test_predicates_keep_the_same_rows_in_spark_and_pandas(frames: tuple[pd.DataFrame, Any]) -> None:
    pandas_frame, spark_frame = frames
    for text in PREDICATES:
        plan = ex.compile_predicate(text)
        expected = pandas_frame["id"][ex.predicate_mask(plan, pandas_frame)].tolist()
        got = sorted(r["id"] for r in spark_frame.filter(sp.predicate_column(plan, spark_frame)).select("id").collect())
        assert got == expected, text


def test_transforms_give_the_same_values_in_spark_and_pandas(frames: tuple[pd.DataFrame, Any]) -> None:
    pandas_frame, spark_frame = frames
    for column, text in EXPRESSIONS:
        plan = ex.compile_expression(text)
        expected = ex.evaluate(plan, pandas_frame, pandas_frame[column])
        rows = spark_frame.select("id", sp.to_column(plan, spark_frame, column).alias("v")).orderBy("id").collect()
        got = pd.Series([r["v"] for r in rows])
        pd.testing.assert_series_equal(got, expected.reset_index(drop=True), check_names=False, check_dtype=False, obj=text)


def test_untranslatable_parts_are_refused_at_upload() -> None:
    assert sp.unsupported(ex.compile_expression("x.title()")) == [".str.title() (Spark's initcap splits words at spaces only)"]
    assert sp.unsupported(ex.compile_expression("x[-3:]")) == ["a text slice with negative bounds or a step"]
    assert sp.unsupported(ex.compile_predicate("~metadata.filename.str.contains('.gz')")) == []


def test_spark_apply_component_matches_filter_then_transform_in_pandas(
    session: Any, tmp_path: Path, metadata_uri: str
) -> None:
    parameters = {"predicate": "~metadata.filename.str.contains('.gz')", "column": "finding", "expression": "x.replace('/', '_')", "master": "local[2]"}
    code = main(["spark.apply"], env(tmp_path, parameters, metadata_uri))
    assert code == EXIT_OK
    manifest = json.loads((tmp_path / "result.json").read_text())
    assert manifest["metrics"]["rows_in"] == 8 and manifest["metrics"]["rows_out"] == 5
    output = manifest["outputs"]["table"]
    assert output["uri"].endswith("/table/table.parquet") and output["metadata"]["rows"] == 5
    got = read_table(output["uri"])
    frame = claimed_metadata()
    expected = frame[ex.predicate_mask(ex.compile_predicate(parameters["predicate"]), frame)].reset_index(drop=True)
    expected["finding"] = expected["finding"].str.replace("/", "_", regex=False)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert [p.name for p in (tmp_path / "out" / "table").iterdir()] == ["table.parquet"]  # no staging left


# ------------------------------------------------------------------ SparkApplication
def _manifest() -> dict[str, Any]:
    return render_manifest(
        name=application_name("ct", "spark-filter", "manual__1"),
        namespace="airgenome",
        image="airgenome/component-spark:0.1.0",
        environment={"PARAMETERS": json.dumps({"predicate": "~metadata.filename.str.contains('.gz')", "master": "submit"}), "STEP_NAME": "spark-filter"},
        executor_instances=3,
    )


def test_the_manifest_is_exact_and_validates() -> None:
    manifest = _manifest()
    validate_manifest(manifest)
    assert manifest["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and manifest["kind"] == "SparkApplication"
    assert manifest["metadata"]["name"] == application_name("ct", "spark-filter", "manual__1")
    spec = manifest["spec"]
    assert spec["type"] == "Python" and spec["mode"] == "cluster" and spec["arguments"] == ["spark.apply"]
    assert spec["mainApplicationFile"].endswith("/airgenome/components/runtime.py")
    assert spec["driver"]["env"] == [
        {"name": "PARAMETERS", "value": json.dumps({"predicate": "~metadata.filename.str.contains('.gz')", "master": "submit"})},
        {"name": "STEP_NAME", "value": "spark-filter"},
    ]
    assert spec["executor"] == {"instances": 3, "cores": 1, "memory": "2g", "labels": {"app.kubernetes.io/managed-by": "airgenome"}}
    assert spec["sparkConf"]["spark.sql.session.timeZone"] == "UTC"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda m: m["spec"]["driver"].update(coress=1), "spec.driver.coress: unknown field"),
        (lambda m: m["spec"].update(executors={"instances": 2}), "spec.executors: unknown field"),
        (lambda m: m["spec"]["executor"].update(instances="2"), "spec.executor.instances: '2' is not of type 'integer'"),
        (lambda m: m["spec"].update(type="Ruby"), "spec.type: 'Ruby' is not one of"),
        (lambda m: m["spec"].pop("sparkVersion"), "spec: 'sparkVersion' is a required property"),
        (lambda m: m["metadata"].update(name="Bad_Name"), "metadata.name: must be a DNS-1123 label"),
        (lambda m: m.update(kind="SparkApp"), "kind: must be SparkApplication"),
    ],
)
def test_typos_and_wrong_types_are_refused(edit: Any, problem: str) -> None:
    manifest = copy.deepcopy(_manifest())
    edit(manifest)
    with pytest.raises(InvalidManifest) as caught:
        validate_manifest(manifest)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_crd_schema_alone_would_accept_the_typo_strict_refuses_it() -> None:
    import jsonschema

    from airgenome.components.data.spark_application import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    manifest = _manifest()
    manifest["spec"]["driver"]["coress"] = 1
    jsonschema.Draft7Validator(schema).validate(manifest)  # the CRD as shipped: typo passes
    assert not jsonschema.Draft7Validator(strict_schema(schema)).is_valid(manifest)
