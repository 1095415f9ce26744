"""Genome's tabular demo as components: train the forest, then judge exactly that version."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airgenome.components.context import ComponentContext, ComponentFailed, Result

DEFAULT_CANONICAL_NAME = "/diabetes/progression/forest-1"


class DemoTrainParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sampleSize: int = Field(default=300, ge=10, le=442, description="rows explained with SHAP")


class DemoEvaluateParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minR2: float = Field(default=0.5, ge=-1.0, le=1.0, description="fit quality bar")
    gate: bool = Field(default=False, description="fail the step when the evaluation fails")


def train(ctx: ComponentContext, params: DemoTrainParameters) -> Result:
    from airgenome.models.demo import train_demo_model

    name = ctx.step.canonical_name or DEFAULT_CANONICAL_NAME
    record = train_demo_model(
        ctx.model_store(),
        canonical_name=name,
        application=ctx.step.application or "search",
        pipeline_name=ctx.step.pipeline_name,
        pipeline_run_id=ctx.step.run_id,
        sample_size=params.sampleSize,
    )
    version = str(record["id"])
    print(f'{{"saved_model": "{version}", "canonicalName": "{name}"}}')
    result = Result(model_version=version)
    result.add_output("model", f"models:/{version}", "model", version=version, canonicalName=name)
    return result


def evaluate(ctx: ComponentContext, params: DemoEvaluateParameters) -> Result:
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import mean_absolute_error, r2_score

    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
    from airgenome.evaluations.store import get_evaluation_store

    store = ctx.model_store()
    if "model" in ctx.inputs:
        version = str(ctx.inputs["model"].metadata.get("version") or ctx.inputs["model"].uri.split(":/", 1)[-1].strip("/"))
        record = store.get_model(version)
    else:  # Genome's payload had no wiring: the version this pipeline run saved
        name = ctx.step.canonical_name or DEFAULT_CANONICAL_NAME
        record = next(iter(store.iter_models(canonicalName=name, pipelineRunId=ctx.step.run_id)), None)
        if record is None:
            raise ComponentFailed(f"no model {name!r} saved by pipeline run {ctx.step.run_id!r}")
    forest = store.load_record(record).estimator
    data = load_diabetes()
    min_r2 = params.minR2

    @evaluation(
        name="demo/diabetes/forest-quality", versionName="1.0", code="airgenome.demo", targetModel=record["id"]
    )
    class ForestQuality(GenomeEvaluationRun):
        @task(dataset={"ref": "sklearn://diabetes"})
        def fit_quality(self, t: Any, dataset: Any) -> None:
            predictions = forest.predict(data.data)
            r2 = float(r2_score(data.target, predictions))
            t.add_metric("r2", r2).expect(r2, var="r2").toBeGreater(min_r2)
            t.add_metric("mae", float(mean_absolute_error(data.target, predictions)))

        @task(dataset={"ref": "sklearn://diabetes"}, segment="sex")
        def no_gap_between_sexes(self, t: Any, dataset: Any) -> None:
            # Bias check: the error must not differ much between the two sex groups.
            sex = data.data[:, data.feature_names.index("sex")]
            errors = np.abs(forest.predict(data.data) - data.target)
            groups = sorted(set(np.round(sex, 6)))
            maes = [float(errors[np.round(sex, 6) == g].mean()) for g in groups]
            gap = abs(maes[0] - maes[1]) / max(maes)
            t.add_metric("mae_gap_ratio", gap).expect(gap, var="mae_gap_ratio").toBeLess(0.25)

        @task(dataset={"ref": "sklearn://diabetes"})
        def worst_records(self, t: Any, dataset: Any) -> None:
            errors = np.abs(forest.predict(data.data) - data.target)
            for index in np.argsort(errors)[-3:][::-1]:
                t.prototype(ref=f"diabetes-row-{int(index)}").add_metric(
                    "abs_error", float(errors[index])
                ).expect(float(errors[index]), var="abs_error").toBeLess(150.0)

    run = ForestQuality(get_evaluation_store(ctx.stores.evaluation_store_uri), target=record["id"]).to_run()
    print(f'{{"evaluation": "{run.id}", "status": {run.status}, "model": "{record["id"]}"}}')
    # The evaluation is the record; a failed bar is a finding, not a crashed step, unless gated.
    if params.gate and run.status == 0:
        raise ComponentFailed(f"evaluation {run.id} failed and the step gates on it")
    result = Result(evaluation_ids=[str(run.id)], model_version=str(record["id"]), metrics={"status": run.status})
    result.add_output("evaluation", f"evaluations:/{run.id}", "evaluation", id=str(run.id), status=run.status)
    return result
