"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions."""

from __future__ import annotations

from airgenome.components.data.sql import TableQueryParameters
from airgenome.components.data.tables import (
    ColumnsParameters,
    FilterParameters,
    SparkApplyParameters,
    TransformParameters,
)
from airgenome.components.registry import ComponentSpec, Images, Port, lazy

_TABLES = "airgenome.components.data.tables"
SPARK_IMAGE = "airgenome/component-spark:0.1.0"

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="input.table",
        summary="the rows of one read query (SELECT / WITH, values bound as :name) through an Airflow "
        "connection, as a table; the connection's URL is resolved by the worker (masked) or comes from a "
        "Kubernetes Secret, never from the spec",
        load=lazy("airgenome.components.data.sql", "table_query"),
        params=TableQueryParameters,
        outputs={"table": Port("table", "the query's rows (Parquet)")},
        connections=("conn_id",),
        example={"conn_id": "warehouse", "sql": "SELECT * FROM metadata WHERE age >= :min_age",
                 "parameters": {"min_age": 18}},
    ),
    ComponentSpec(
        name="filter.rows",
        summary="keep the rows where a predicate in CLAIMED's syntax holds (safe expression language, "
        "vectorised pandas); no rows left ends the step as skip, fail or an empty table",
        load=lazy(_TABLES, "filter_rows"),
        params=FilterParameters,
        inputs={"table": Port("table", "the rows to filter")},
        outputs={"table": Port("table", "the rows kept")},
        example={"predicate": "~metadata.filename.str.contains('.gz')"},
    ),
    ComponentSpec(
        name="transform.apply",
        summary="apply a whole-column expression over x (CLAIMED's transform, e.g. x.replace('/', '_')) "
        "to a column, in place or into a new column",
        load=lazy(_TABLES, "transform_apply"),
        params=TransformParameters,
        inputs={"table": Port("table", "the table to transform")},
        outputs={"table": Port("table", "the transformed table")},
        example={"column": "finding", "expression": "x.replace('/', '_')"},
    ),
    ComponentSpec(
        name="transform.columns",
        summary="named column operations in order: rename, drop, cast, fillna, one_hot, bin",
        load=lazy(_TABLES, "transform_columns"),
        params=ColumnsParameters,
        inputs={"table": Port("table", "the table to transform")},
        outputs={"table": Port("table", "the transformed table")},
        example={
            "operations": [
                {"op": "rename", "columns": {"finding": "label"}},
                {"op": "fillna", "columns": {"age": 0}},
                {"op": "bin", "column": "age", "edges": [0, 18, 65, 130], "labels": ["child", "adult", "senior"]},
            ]
        },
    ),
    ComponentSpec(
        name="spark.apply",
        summary="the same filter predicate and/or column transform as native Spark expressions "
        "(local[*] by default, a SparkApplication in kubernetes mode); same Parquet tables in and out",
        load=lazy(_TABLES, "spark_apply"),
        params=SparkApplyParameters,
        # The driver and executors need the Spark distribution (images/component-spark.Dockerfile).
        images=Images(cpu=SPARK_IMAGE, gpu=SPARK_IMAGE),
        inputs={"table": Port("table", "the table (Parquet)")},
        outputs={"table": Port("table", "the result")},
        extra="spark",
        example={
            "predicate": "~metadata.filename.str.contains('.gz')",
            "column": "finding",
            "expression": "x.replace('/', '_')",
        },
    ),
)
