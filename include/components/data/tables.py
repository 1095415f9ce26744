"""Table components: ``filter.rows``, ``transform.apply``, ``transform.columns``, ``spark.apply``.

Predicates and expressions are CLAIMED's language, compiled by
`airgenome.components.data.expressions` at upload (pydantic validators: a bad expression is
refused with its field path before any Airflow object exists) and again when the step runs
(the runtime re-validates parameters: exit 2, nothing read or written). They are interpreted
as vectorised pandas operations, or as native Spark Column expressions by ``spark.apply``;
never executed. Outputs are written to a temporary name and moved into place.

This module is imported by the registry (parameter models): pandas and pyspark are imported
inside the functions only.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from airgenome.components.context import ComponentContext, ComponentFailed, Result, SkipStep
from airgenome.components.data import expressions as ex

ColumnName = Annotated[str, Field(min_length=1, max_length=1000)]
TableName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _predicate(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None:
        ex.validate_predicate(value, info.data.get("table_name") or "metadata")
    return value


def _expression(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None:
        ex.validate_expression(value, info.data.get("table_name") or "metadata")
    return value


# ------------------------------------------------------------------ filter.rows
class FilterParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_name: TableName = Field("metadata", description="the name the predicate uses for the table (CLAIMED: metadata)")
    predicate: str = Field(
        min_length=1,
        max_length=ex.MAX_TEXT,
        description="a condition per row in the safe expression language, e.g. "
        "~metadata.filename.str.contains('.gz')",
    )
    on_empty: Literal["skip", "fail", "keep"] = Field(
        "skip", description="no rows left: skip downstream steps, fail the step, or keep the empty table"
    )

    _check_predicate = field_validator("predicate")(_predicate)


def filter_rows(ctx: ComponentContext, params: FilterParameters) -> Result:
    from airgenome.components.files import read_table, write_table

    plan = ex.compile_predicate(params.predicate, params.table_name)
    frame = read_table(ctx.input("table").uri)
    try:
        mask = ex.predicate_mask(plan, frame)
    except ex.EvaluationError as error:
        raise ComponentFailed(f"parameters.predicate: {error}") from None
    kept = frame[mask.to_numpy()].reset_index(drop=True)
    metrics = {"rows_in": int(len(frame)), "rows_out": int(len(kept))}
    if kept.empty:
        if params.on_empty == "skip":
            raise SkipStep(f"no rows left after {params.predicate!r} (of {len(frame)})")
        if params.on_empty == "fail":
            raise ComponentFailed(f"no rows left after {params.predicate!r} (of {len(frame)})")
    uri, facts = write_table(ctx.output("table"), kept)
    result = Result(metrics=metrics)
    result.add_output("table", uri, "table", **facts)
    return result


# ------------------------------------------------------------------ transform.apply
class TransformParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_name: TableName = Field("metadata", description="the name the expression may use for the table")
    column: ColumnName = Field(description="the column the expression reads as x (CLAIMED: finding)")
    expression: str = Field(
        min_length=1,
        max_length=ex.MAX_TEXT,
        description="a whole-column expression over x (the column) and/or <table_name>.<column>, e.g. "
        "x.replace('/', '_')",
    )
    output_column: ColumnName | None = Field(None, description="write the result here (default: replace column)")

    _check_expression = field_validator("expression")(_expression)


def transform_apply(ctx: ComponentContext, params: TransformParameters) -> Result:
    from airgenome.components.files import read_table, write_table

    plan = ex.compile_expression(params.expression, params.table_name)
    frame = read_table(ctx.input("table").uri)
    _require_columns(frame, [params.column], "parameters.column")
    try:
        values = ex.evaluate(plan, frame, frame[params.column])
    except ex.EvaluationError as error:
        raise ComponentFailed(f"parameters.expression: {error}") from None
    target = params.output_column or params.column
    out = frame.copy()
    out[target] = values
    uri, facts = write_table(ctx.output("table"), out)
    result = Result(metrics={"rows": int(len(out)), "column": target})
    result.add_output("table", uri, "table", **facts)
    return result


# ------------------------------------------------------------------ transform.columns
CAST_TYPES = ("int64", "Int64", "float64", "string", "bool", "boolean", "datetime", "category")
Scalar = str | int | float | bool


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["rename"]
    columns: dict[ColumnName, ColumnName] = Field(min_length=1, description="old name -> new name")

    @field_validator("columns")
    @classmethod
    def _unique(cls, value: dict[str, str]) -> dict[str, str]:
        targets = list(value.values())
        if len(set(targets)) != len(targets):
            raise ValueError("two columns would get the same new name")
        return value


class Drop(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["drop"]
    columns: list[ColumnName] = Field(min_length=1, max_length=10_000)


class Cast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["cast"]
    columns: dict[ColumnName, Literal["int64", "Int64", "float64", "string", "bool", "boolean", "datetime", "category"]] = Field(
        min_length=1, description=f"column -> type ({', '.join(CAST_TYPES)})"
    )


class FillMissing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["fillna"]
    columns: dict[ColumnName, Scalar] = Field(min_length=1, description="column -> the value that replaces missing ones")

    @field_validator("columns")
    @classmethod
    def _finite(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, fill in value.items():
            if isinstance(fill, float) and not math.isfinite(fill):
                raise ValueError(f"{name}: the fill value must be finite")
            if isinstance(fill, str) and len(fill) > ex.MAX_STRING:
                raise ValueError(f"{name}: the fill value may have at most {ex.MAX_STRING} characters")
        return value


class OneHot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["one_hot"]
    column: ColumnName
    prefix: str | None = Field(None, max_length=200, description="new columns are <prefix>_<value> (default: the column)")
    drop_original: bool = True
    max_categories: int = Field(100, ge=1, le=10_000, description="fail if the column has more distinct values")


class Bin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["bin"]
    column: ColumnName
    edges: list[float] = Field(min_length=2, max_length=10_000, description="strictly increasing bin edges")
    labels: list[str] | None = Field(None, description="one label per bin (len(edges) - 1)")
    output_column: ColumnName | None = Field(None, description="default: <column>_bin")
    right: bool = Field(True, description="bins include their right edge")

    @model_validator(mode="after")
    def _edges(self) -> Bin:
        if any(not math.isfinite(e) for e in self.edges):
            raise ValueError("edges must be finite numbers")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be strictly increasing")
        if self.labels is not None and len(self.labels) != len(self.edges) - 1:
            raise ValueError(f"labels: {len(self.edges) - 1} bins need {len(self.edges) - 1} labels, not {len(self.labels)}")
        return self


Operation = Annotated[Rename | Drop | Cast | FillMissing | OneHot | Bin, Field(discriminator="op")]


class ColumnsParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operations: list[Operation] = Field(
        min_length=1, max_length=100, description="named column operations, applied in order: rename, drop, cast, fillna, one_hot, bin"
    )


def _require_columns(frame: Any, names: list[str], where: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        listed = ", ".join(map(str, frame.columns)) or "none"
        which = ", ".join(map(repr, missing))
        raise ComponentFailed(f"{where}: column{'s' if len(missing) > 1 else ''} {which} not in the table (its columns: {listed})")


def apply_operations(frame: Any, operations: list[Any]) -> Any:
    """The named operations on a DataFrame, in order (ComponentFailed names the operation)."""
    import pandas as pd

    out = frame.copy()
    for index, operation in enumerate(operations):
        where = f"parameters.operations[{index}]"
        if isinstance(operation, Rename):
            _require_columns(out, list(operation.columns), f"{where}.columns")
            out = out.rename(columns=operation.columns)
        elif isinstance(operation, Drop):
            _require_columns(out, operation.columns, f"{where}.columns")
            out = out.drop(columns=operation.columns)
        elif isinstance(operation, Cast):
            _require_columns(out, list(operation.columns), f"{where}.columns")
            for name, dtype in operation.columns.items():
                try:
                    out[name] = pd.to_datetime(out[name]) if dtype == "datetime" else out[name].astype(dtype)
                except (TypeError, ValueError, OverflowError) as error:
                    raise ComponentFailed(f"{where}.columns.{name}: cannot cast {out[name].dtype} to {dtype}: {error}") from None
        elif isinstance(operation, FillMissing):
            _require_columns(out, list(operation.columns), f"{where}.columns")
            out = out.fillna(value=dict(operation.columns))
        elif isinstance(operation, OneHot):
            _require_columns(out, [operation.column], f"{where}.column")
            distinct = out[operation.column].nunique(dropna=True)
            if distinct > operation.max_categories:
                raise ComponentFailed(
                    f"{where}.column: {operation.column!r} has {distinct} distinct values (max_categories: {operation.max_categories})"
                )
            dummies = pd.get_dummies(out[operation.column], prefix=operation.prefix or operation.column, dtype="int8")
            clash = [c for c in dummies.columns if c in out.columns]
            if clash:
                raise ComponentFailed(f"{where}: new columns would overwrite {', '.join(map(repr, clash))}")
            if operation.drop_original:
                out = out.drop(columns=[operation.column])
            out = pd.concat([out, dummies], axis=1)
        elif isinstance(operation, Bin):
            _require_columns(out, [operation.column], f"{where}.column")
            if not pd.api.types.is_numeric_dtype(out[operation.column]):
                raise ComponentFailed(f"{where}.column: {operation.column!r} holds {out[operation.column].dtype}, not numbers")
            binned = pd.cut(out[operation.column], bins=operation.edges, labels=operation.labels, right=operation.right)
            out[operation.output_column or f"{operation.column}_bin"] = binned.astype("string")
    return out


def transform_columns(ctx: ComponentContext, params: ColumnsParameters) -> Result:
    from airgenome.components.files import read_table, write_table

    frame = read_table(ctx.input("table").uri)
    out = apply_operations(frame, list(params.operations))
    uri, facts = write_table(ctx.output("table"), out)
    result = Result(metrics={"rows": int(len(out)), "columns_in": int(frame.shape[1]), "columns_out": int(out.shape[1])})
    result.add_output("table", uri, "table", **facts)
    return result


# ------------------------------------------------------------------ spark.apply
class SparkApplyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_name: TableName = Field("metadata", description="the name predicate and expression use for the table")
    predicate: str | None = Field(None, min_length=1, max_length=ex.MAX_TEXT, description="filter first (as filter.rows)")
    column: ColumnName | None = Field(None, description="then transform this column (as transform.apply)")
    expression: str | None = Field(None, min_length=1, max_length=ex.MAX_TEXT, description="the transform over x")
    output_column: ColumnName | None = None
    on_empty: Literal["skip", "fail", "keep"] = "skip"
    master: str = Field(
        "local[*]",
        pattern=r"^(submit|local(\[(\*|[1-9][0-9]{0,3})\])?|spark://[A-Za-z0-9.\-]+:[0-9]{1,5}|k8s://https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?)$",
        description="Spark master: local[*] in the embedded default; submit: the master spark-submit "
        "configured (a SparkApplication's driver in kubernetes mode)",
    )

    @field_validator("predicate")
    @classmethod
    def _spark_predicate(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _native_only(ex.validate_predicate(value, info.data.get("table_name") or "metadata"))
        return value

    @field_validator("expression")
    @classmethod
    def _spark_expression(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _native_only(ex.validate_expression(value, info.data.get("table_name") or "metadata"))
        return value

    @model_validator(mode="after")
    def _something(self) -> SparkApplyParameters:
        if self.predicate is None and self.expression is None:
            raise ValueError("give a predicate, an expression (with column), or both")
        if (self.expression is None) != (self.column is None):
            raise ValueError("expression and column go together")
        return self


def _native_only(plan: ex.Plan) -> None:
    from airgenome.components.data.spark import unsupported

    problems = unsupported(plan)
    if problems:
        raise ValueError(f"no native Spark expression for {'; '.join(problems)} (use filter.rows / transform.apply)")


def spark_apply(ctx: ComponentContext, params: SparkApplyParameters) -> Result:
    """Filter and/or transform with Spark; reads and writes the same Parquet tables."""
    from airgenome.components.data import spark as sp
    from airgenome.components.lake import local_path

    source = ctx.input("table").uri
    path = local_path(source) or source
    if not path.endswith((".parquet", ".csv")):
        path = f"{path.rstrip('/')}/table.parquet"
    session = sp.start_session(params.master, app_name=f"airgenome-{ctx.step.step_name}")
    frame = session.read.csv(path, header=True, inferSchema=True) if path.endswith(".csv") else session.read.parquet(path)
    rows_in = frame.count()
    try:
        if params.predicate is not None:
            frame = frame.filter(sp.predicate_column(ex.compile_predicate(params.predicate, params.table_name), frame))
        if params.expression is not None and params.column is not None:
            if params.column not in frame.columns:
                raise ComponentFailed(
                    f"parameters.column: column {params.column!r} not in the table (its columns: {', '.join(frame.columns)})"
                )
            plan = ex.compile_expression(params.expression, params.table_name)
            frame = frame.withColumn(params.output_column or params.column, sp.to_column(plan, frame, params.column))
    except ex.EvaluationError as error:
        raise ComponentFailed(f"parameters.{'predicate' if params.expression is None else 'expression'}: {error}") from None
    uri, facts = write_spark_table(frame, ctx.output("table"))
    metrics = {"rows_in": int(rows_in), "rows_out": int(facts["rows"]), "master": params.master}
    if facts["rows"] == 0 and params.on_empty != "keep":
        from airgenome.components.files import filesystem

        fs, written = filesystem(uri)
        fs.rm(written)  # nothing half-done stays in the lake
        if params.on_empty == "skip":
            raise SkipStep(f"no rows left (of {rows_in})")
        raise ComponentFailed(f"no rows left (of {rows_in})")
    result = Result(metrics=metrics)
    result.add_output("table", uri, "table", **facts)
    return result


def write_spark_table(frame: Any, uri_folder: str) -> tuple[str, dict[str, Any]]:
    """A Spark DataFrame as ONE ``table.parquet`` in the folder (written aside, moved into
    place), with the same event facts as `files.write_table`."""
    import hashlib
    import os
    import shutil
    import uuid

    import pyarrow.parquet as pq

    from airgenome.components.files import TABLE_FILE, table_schema
    from airgenome.components.lake import local_path

    folder = local_path(uri_folder)
    if folder is None:
        raise ComponentFailed(f"spark.apply writes to a local lake only in local mode (got {uri_folder!r})")
    os.makedirs(folder, exist_ok=True)
    staging = os.path.join(folder, f".spark-{uuid.uuid4().hex}")
    try:
        frame.coalesce(1).write.mode("overwrite").parquet(staging)
        parts = sorted(p for p in os.listdir(staging) if p.startswith("part-") and p.endswith(".parquet"))
        if len(parts) != 1:
            raise ComponentFailed(f"Spark wrote {len(parts)} part files, expected 1")
        target = os.path.join(folder, TABLE_FILE)
        os.replace(os.path.join(staging, parts[0]), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    metadata = pq.read_metadata(target)
    schema = table_schema(pq.read_schema(target).empty_table().to_pandas())
    facts = {"bytes": os.path.getsize(target), "sha256": digest.hexdigest(), "rows": int(metadata.num_rows), "schema": schema}
    return f"{uri_folder}/{TABLE_FILE}", facts
