"""Small real components of the catalogue (run inside a step's subprocess or pod).

Each reads the Genome step environment (PARAMETERS, STEP_NAME, ...) and returns an exit code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from airgenome.sequence.contract import GENOME_VARIABLES

_EXTRA_VARIABLES = (
    "CANONICAL_NAME",
    "AIRGENOME_MODEL_STORE_URI",
    "AIRGENOME_MODEL_ARTIFACTS",
    "AIRGENOME_EVALUATION_STORE_URI",
)


def parameters() -> dict[str, Any]:
    raw = os.environ.get("PARAMETERS") or "{}"
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def echo() -> int:
    """Print the Genome environment; parameter ``outputFile`` also writes it there as JSON."""
    seen = {name: os.environ.get(name) for name in (*GENOME_VARIABLES, *_EXTRA_VARIABLES)}
    text = json.dumps(seen, indent=2, sort_keys=True)
    print(text)
    target = parameters().get("outputFile")
    if isinstance(target, str) and target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"wrote {path}")
    return 0


def fail() -> int:
    params = parameters()
    print(str(params.get("message", "genome.fail was asked to fail")), file=sys.stderr)
    code = params.get("exitCode", 1)
    return code if isinstance(code, int) and not isinstance(code, bool) else 1


def _model_store() -> Any:
    try:
        from airgenome.sdk import ModelStore  # type: ignore[attr-defined]
    except ImportError:
        try:
            from airgenome.models.client import ModelStore
        except ImportError:
            return None
    return ModelStore()


def train_forest() -> int:
    """Train a RandomForestRegressor on sklearn's bundled diabetes data; save it if a store exists."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import train_test_split

    params = parameters()
    data = load_diabetes()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0
    )
    model = RandomForestRegressor(
        n_estimators=int(params.get("n_estimators", 50)),
        max_depth=int(params.get("max_depth", 5)),
        random_state=0,
    ).fit(x_train, y_train)
    score = float(model.score(x_test, y_test))
    print(json.dumps({"model": "RandomForestRegressor", "r2_test": round(score, 4)}))
    if params.get("save", True) is False:
        return 0
    store = _model_store()
    if store is None:
        print("no model store available in this environment; model not saved")
        return 0
    pipeline = os.environ.get("PIPELINE_NAME", "sequence")
    step = os.environ.get("STEP_NAME", "train")
    record = store.save_model(
        model,
        {
            "canonicalName": os.environ.get("CANONICAL_NAME") or f"/sequence/{pipeline}/{step}",
            "application": os.environ.get("APPLICATION") or "sequence",
            "pipelineName": pipeline,
            "pipelineRunId": os.environ.get("PIPELINE_RUNID", ""),
            "pipelineStage": step,
            "framework": "sklearn",
            "inputModality": "tabular",
            "versionName": str(params.get("versionName", "forest.1")),
            "predictionType": "regression",
        },
    )
    try:
        version = record["id"]
    except (TypeError, KeyError):
        version = getattr(record, "id", record)
    print(f"saved model version {version}")
    return 0
