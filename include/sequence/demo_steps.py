"""The demo pipeline's steps: train Genome's tabular forest, then judge it.

`train_demo_forest` saves the forest (with its global SHAP explanations) to the model store;
`evaluate_demo_forest` runs a Genome evaluation against the version this pipeline run
produced (found by canonicalName + pipelineRunId), so the model card links the two.
Both read only the Genome step environment.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

DEFAULT_CANONICAL_NAME = "/diabetes/progression/forest-1"


def _parameters() -> dict[str, Any]:
    raw = json.loads(os.environ.get("PARAMETERS") or "{}")
    return raw if isinstance(raw, dict) else {}


def _canonical_name() -> str:
    return os.environ.get("CANONICAL_NAME") or DEFAULT_CANONICAL_NAME


def train_demo_forest() -> int:
    from airgenome.models.demo import train_demo_model

    params = _parameters()
    record = train_demo_model(
        canonical_name=_canonical_name(),
        application=os.environ.get("APPLICATION") or "search",
        pipeline_name=os.environ.get("PIPELINE_NAME") or "genome-demo",
        pipeline_run_id=os.environ.get("PIPELINE_RUNID") or None,
        sample_size=int(params.get("sampleSize", 300)),
    )
    print(json.dumps({"saved_model": record["id"], "canonicalName": _canonical_name()}))
    return 0


def _this_runs_model() -> Any:
    """The version saved by this pipeline run (not merely the latest of the name)."""
    from airgenome.models.client import ModelStore

    store = ModelStore()
    run_id = os.environ.get("PIPELINE_RUNID", "")
    for record in store.iter_models(canonicalName=_canonical_name(), pipelineRunId=run_id):
        return store, record
    raise LookupError(f"no model {_canonical_name()!r} saved by pipeline run {run_id!r}")


def evaluate_demo_forest() -> int:
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import mean_absolute_error, r2_score

    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task

    try:
        store, record = _this_runs_model()
    except LookupError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    forest = store.load_record(record).estimator
    params = _parameters()
    min_r2 = float(params.get("minR2", 0.5))
    data = load_diabetes()

    @evaluation(
        name="demo/diabetes/forest-quality",
        versionName="1.0",
        code="airgenome.demo",
        targetModel=record["id"],
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

    run = ForestQuality(None, target=record["id"]).to_run()
    print(json.dumps({"evaluation": run.id, "status": run.status, "model": record["id"]}))
    # The evaluation is the record; a failed quality bar is a finding, not a crashed step,
    # unless the sequence asks to gate on it.
    return 1 if params.get("gate", False) and run.status == 0 else 0
