"""Tabular components: scikit-learn's bundled data sets as a table, a forest trained on a table.

``train.sklearn-forest`` keeps Genome's ``sklearn.train-forest`` working: without a ``table``
input it trains on scikit-learn's bundled diabetes data as before.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.files import read_table, write_table

DATASETS = ("diabetes", "iris", "wine", "breast_cancer")


class SklearnDatasetParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: Literal["diabetes", "iris", "wine", "breast_cancer"] = Field(
        default="iris", description="a data set bundled with scikit-learn (no download)"
    )
    target_column: str = Field(default="target", min_length=1, max_length=100)
    limit: int | None = Field(default=None, ge=1, le=1_000_000, description="keep the first N rows")


def sklearn_dataset(ctx: ComponentContext, params: SklearnDatasetParameters) -> Result:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{params.dataset}")
    frame = loader(as_frame=True).frame.rename(columns={"target": params.target_column})
    if params.limit is not None:
        frame = frame.head(params.limit)
    uri, facts = write_table(ctx.output("table"), frame)
    result = Result(metrics={"rows": int(len(frame)), "columns": int(frame.shape[1])})
    result.add_output("table", uri, "table", **facts)
    return result


class ForestParameters(BaseModel):
    # Genome's payloads sent save/versionName beside the forest's own parameters.
    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(default=50, ge=1, le=5000)
    max_depth: int | None = Field(default=5, ge=1, le=100)
    target: str = Field(default="target", min_length=1, description="target column of the table input")
    task: Literal["regression", "classification"] = "regression"
    test_size: float = Field(default=0.25, gt=0.0, lt=1.0)
    random_state: int = 0
    save: bool = Field(default=True, description="save the model to the model store")
    versionName: str = Field(default="forest.1", min_length=1, max_length=100)


def sklearn_forest(ctx: ComponentContext, params: ForestParameters) -> Result:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.model_selection import train_test_split

    if "table" in ctx.inputs:
        frame = read_table(ctx.inputs["table"].uri)
        if params.target not in frame.columns:
            raise ComponentFailed(
                f"parameters.target: column {params.target!r} is not in the table "
                f"(columns: {', '.join(map(str, frame.columns))})"
            )
        features = frame.drop(columns=[params.target])
        x, y = features.to_numpy(), frame[params.target].to_numpy()
        feature_names = [str(c) for c in features.columns]
        dataset_ref = ctx.inputs["table"].uri
    else:
        from sklearn.datasets import load_diabetes

        data = load_diabetes()
        x, y, feature_names, dataset_ref = data.data, data.target, list(data.feature_names), "sklearn://diabetes"
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=params.test_size, random_state=params.random_state
    )
    forest_class = RandomForestRegressor if params.task == "regression" else RandomForestClassifier
    model = forest_class(
        n_estimators=params.n_estimators, max_depth=params.max_depth, random_state=params.random_state
    ).fit(x_train, y_train)
    score_name = "r2_test" if params.task == "regression" else "accuracy_test"
    score = round(float(model.score(x_test, y_test)), 4)
    print(f'{{"model": "{forest_class.__name__}", "{score_name}": {score}}}')
    result = Result(metrics={score_name: score, "train_rows": int(len(x_train))})
    if not params.save:
        return result
    from airgenome.models.estimator import GenomeEstimator

    step = ctx.step
    estimator = GenomeEstimator(model, feature_names=feature_names, modality="tabular")
    record = ctx.model_store().save_model(
        estimator,
        {
            "canonicalName": step.canonical_name or f"/sequence/{step.pipeline_name}/{step.step_name}",
            "application": step.application,
            "pipelineName": step.pipeline_name,
            "pipelineRunId": step.run_id,
            "pipelineStage": step.step_name,
            "framework": "sklearn",
            "inputModality": "tabular",
            "versionName": params.versionName,
            "predictionType": params.task,
            "datasets": [{"ref": dataset_ref}],
        },
    )
    version = str(record["id"])
    print(f"saved model version {version}")
    result.model_version = version
    result.add_output("model", f"models:/{version}", "model", version=version)
    return result
