"""``evaluate.data-validation``: a Great Expectations suite on a table, stored as a Genome evaluation.

Great Expectations 1.x is called directly (an ephemeral context, a pandas DataFrame batch; no
Data Docs — they load CSS from CDNs — and no GX Airflow provider). The suite is JSON in the
parameters; names were checked at upload against a maintained allow-list
(`file_specs.GX_EXPECTATIONS`), the kwargs are checked here by GX's own expectation models
before anything runs, all problems at once, by path (``parameters.suite[1].kwargs.min_value``).

The evaluation run has one task per expectation (metrics from GX's result: element and
unexpected counts, the observed value; the expectation ``{success:...} = True``), each linked to
the table as its dataset, with up to ``max_prototypes`` unexpected rows as prototypes (the row
index, or the ``id_column`` value, and the row's values). The run is linked to the model
version when a ``model`` input is wired. A failed suite then fails the step, skips downstream
steps, or is only recorded (``on_failure``).
"""

from __future__ import annotations

import time
from typing import Any

from airgenome.components.context import ComponentContext, ComponentFailed, Result, SkipStep
from airgenome.components.data.file_specs import (
    COLUMN_KWARGS,
    COLUMN_LIST_KWARGS,
    DataValidationParameters,
    ExpectationItem,
)
from airgenome.components.files import read_table

RECORD_COLUMNS = 20  # values of an unexpected row kept on its prototype
CODE = "airgenome.components.data.validation"


class ExpectationError(Exception):
    """Great Expectations could not evaluate an expectation (recorded as the task's error)."""


def check_columns(frame: Any, suite: list[ExpectationItem], id_column: str | None) -> None:
    columns = {str(c) for c in frame.columns}
    listed = ", ".join(map(str, frame.columns))
    problems = []
    for index, item in enumerate(suite):
        if item.expectation == "expect_column_to_exist" or item.expectation.startswith("expect_table_columns_"):
            continue  # a missing column is these expectations' finding, not a bad parameter
        for key in COLUMN_KWARGS:
            value = item.kwargs.get(key)
            if value is not None and value not in columns:
                problems.append(f"parameters.suite[{index}].kwargs.{key}: column {value!r} is not in the table")
        for key in COLUMN_LIST_KWARGS:
            for position, value in enumerate(item.kwargs.get(key) or []):
                if value not in columns:
                    problems.append(
                        f"parameters.suite[{index}].kwargs.{key}[{position}]: column {value!r} is not in the table"
                    )
    if id_column is not None and id_column not in columns:
        problems.append(f"parameters.id_column: column {id_column!r} is not in the table")
    if problems:
        raise ComponentFailed("\n  ".join([*problems, f"(columns: {listed})"]))


def build_expectations(suite: list[ExpectationItem]) -> list[Any]:
    """GX expectation objects; every kwargs problem, by path, before anything runs."""
    from great_expectations.expectations.registry import get_expectation_impl

    built: list[Any] = []
    problems: list[str] = []
    for index, item in enumerate(suite):
        where = f"parameters.suite[{index}].kwargs"
        try:
            implementation = get_expectation_impl(item.expectation)
        except Exception:  # noqa: BLE001 - allow-list and installed GX disagree
            problems.append(f"parameters.suite[{index}].expectation: {item.expectation!r} is not in the installed GX")
            continue
        try:
            built.append(implementation(**item.kwargs, meta={"position": index}))
        except Exception as error:  # noqa: BLE001 - GX's pydantic (v1) errors, or a TypeError
            problems.extend(_kwargs_problems(where, error))
    if problems:
        raise ComponentFailed("invalid expectation kwargs:\n  " + "\n  ".join(problems))
    return built


def _kwargs_problems(where: str, error: Exception) -> list[str]:
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return [f"{where}: {error}"]
    seen: dict[str, str] = {}
    for item in errors():
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "__root__")
        path = f"{where}.{loc}" if loc else where
        message = str(item.get("msg", ""))
        if item.get("type") == "value_error.extra":
            message = "unknown argument for this expectation"
        seen.setdefault(path, message)  # GX's unions list one error per member: keep the first
    return [f"{path}: {message}" for path, message in seen.items()]


def run_suite(frame: Any, expectations: list[Any], suite_name: str, partial: int, id_column: str | None) -> list[Any]:
    """Great Expectations on a DataFrame: one result per expectation, in suite order."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
        ),
    )
    batch = (
        context.data_sources.add_pandas("airgenome")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": max(partial, 1)}
    if id_column:
        result_format["unexpected_index_column_names"] = [id_column]
    outcome = batch.validate(suite, result_format=result_format)
    return sorted(outcome.results, key=lambda r: int((r.expectation_config.meta or {}).get("position", 0)))


def _task_name(item: ExpectationItem) -> str:
    if item.name:
        return item.name
    column = item.kwargs.get("column") or ",".join(item.kwargs.get("column_list") or [])
    if not column and "column_A" in item.kwargs:
        column = f"{item.kwargs['column_A']},{item.kwargs.get('column_B')}"
    return f"{item.expectation}({column})" if column else item.expectation


def _exception(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for value in info.values():  # metric errors are keyed by metric id
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "raised an exception")
    return None


def _record(frame: Any, position: int) -> dict[str, Any]:
    row = frame.iloc[position]
    return {str(k): row[k] for k in list(frame.columns)[:RECORD_COLUMNS]}


def _make_task(item: ExpectationItem, result: Any, frame: Any, params: DataValidationParameters) -> Any:
    def judge(self: Any, t: Any, dataset: Any) -> None:
        facts = dict(result.result or {})
        t.add_metric("success", bool(result.success))
        for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "missing_percent"):
            if facts.get(key) is not None:
                t.add_metric(key, facts[key])
        if "observed_value" in facts:
            t.add_metric("observed_value", facts["observed_value"])
        problem = _exception(result)
        if problem is not None:
            raise ExpectationError(problem)
        t.expect(bool(result.success), var="success").toBe(True)
        column = item.kwargs.get("column")
        indexes = (facts.get("partial_unexpected_index_list") or [])[: params.max_prototypes]
        for entry in indexes:
            if isinstance(entry, dict):  # id_column given: {column: value, id_column: id}
                identifier = entry.get(params.id_column or "")
                prototype = t.prototype(ref=str(identifier), refType="id")
                if column is not None and column in entry:
                    prototype.add_metric("value", entry[column])
                prototype.add_metric(params.id_column or "id", identifier)
            else:
                index = int(entry)
                prototype = t.prototype(ref=f"row-{index}", refType="row")
                prototype.add_metric("row", index)
                if column is not None and 0 <= index < len(frame):
                    prototype.add_metric("value", frame.iloc[index][column])
                if 0 <= index < len(frame):
                    prototype.add_metric("record", _record(frame, index))

    return judge


def data_validation(ctx: ComponentContext, params: DataValidationParameters) -> Result:
    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
    from airgenome.evaluations.store import get_evaluation_store

    started = time.perf_counter()
    table = ctx.input("table")
    frame = read_table(table.uri)
    if frame.empty:
        raise ComponentFailed("inputs.table: the table has no rows")
    if len(frame) > params.max_rows:
        raise ComponentFailed(f"inputs.table: {len(frame)} rows, more than parameters.max_rows ({params.max_rows})")
    frame = frame.reset_index(drop=True)
    check_columns(frame, params.suite, params.id_column)
    model = ctx.model_version("model") if "model" in ctx.inputs else None

    expectations = build_expectations(params.suite)
    validated = time.perf_counter()
    results = run_suite(frame, expectations, params.suite_name, params.max_prototypes, params.id_column)
    gx_seconds = time.perf_counter() - validated

    dataset = {"ref": table.uri, "refType": "table"}
    members: dict[str, Any] = {}
    for index, (item, result) in enumerate(zip(params.suite, results, strict=True)):
        members[f"expectation_{index:03d}"] = task(name=_task_name(item), dataset=dataset)(
            _make_task(item, result, frame, params)
        )
    step = ctx.step
    run_class = type("DataValidation", (GenomeEvaluationRun,), members)
    run_class = evaluation(
        name=f"data-validation/{params.suite_name}",
        versionName="1",
        code=CODE,
        targetModel=model,
        parameters={"suite": [i.model_dump(exclude_none=True) for i in params.suite], "on_failure": params.on_failure},
        application=step.application,
        pipelineName=step.pipeline_name,
        pipelineStage=step.step_name,
        pipelineRunId=step.run_id,
        inputModality="tabular",
        framework="great_expectations",
    )(run_class)
    run = run_class(get_evaluation_store(ctx.stores.evaluation_store_uri), target=model).to_run()

    failed = [name for name, r in zip((_task_name(i) for i in params.suite), results, strict=True) if not r.success]
    metrics = {
        "status": run.status,
        "expectations": len(results),
        "failed": len(failed),
        "rows": int(len(frame)),
        "gx_seconds": round(gx_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(f'{{"evaluation": "{run.id}", "status": {run.status}, "failed": {len(failed)}, "of": {len(results)}}}')
    if failed and params.on_failure != "record":
        listed = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        message = f"data validation failed (evaluation {run.id}): {len(failed)} of {len(results)} expectations: {listed}"
        if params.on_failure == "skip":
            raise SkipStep(message)
        raise ComponentFailed(message)
    result = Result(evaluation_ids=[str(run.id)], metrics=metrics, model_version=model)
    result.add_output("evaluation", f"evaluations:/{run.id}", "evaluation", id=str(run.id), status=run.status)
    return result
