"""Model store: save / load / search through airgenome vs the raw MLflow calls underneath.

Anchors, measured in the same run on the same SQLite store:
- save: ``mlflow.sklearn.log_model(..., registered_model_name=...)`` with MLflow's defaults
  (environment inference; skops needs the tree types trusted), and the raw minimum our
  backend performs (save_model with explicit pip requirements + log_artifacts + register);
- load: ``mlflow.sklearn.load_model("models:/<name>/<version>")``;
- search: ``MlflowClient.search_model_versions`` with the same tag filter.
The model is Genome's tabular example: a 120-tree, depth-5 forest on the diabetes data.
Prints only; never asserts.

    .venv/bin/python bench/bench_model_store.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(label: str, repeat: int, action: Callable[[int], Any]) -> float:
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    print(f"  {label:<58} median {median * 1000:9.1f} ms  (min {min(samples) * 1000:.1f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor

    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator
    from airgenome.models.serialization import _pip_requirements

    data = load_diabetes()
    forest = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0).fit(data.data, data.target)
    base = Path(tempfile.mkdtemp(prefix="bench-model-store-"))
    uri = f"sqlite:///{base / 'mlflow.db'}"
    store = ModelStore(uri, artifacts=str(base / "artifacts"))
    meta = {
        "canonicalName": "/bench/housing/forest",
        "application": "bench",
        "pipelineName": "bench",
        "pipelineRunId": "bench-run",
        "pipelineStage": "model",
        "framework": "sklearn",
        "inputModality": "tabular",
        "versionName": "1.0",
    }
    model = GenomeEstimator(forest, feature_names=data.feature_names)
    store.save_model(model, meta)  # warm-up: creates tables, experiment, registered model

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # An explicit artifact location: MLflow's default is ./mlruns in the working directory.
    experiment_id = client.create_experiment("bench-raw", artifact_location=str(Path(base) / "raw-artifacts"))
    experiment = mlflow.set_experiment(experiment_id=experiment_id)

    print(f"model store benchmark: forest 120x5 on diabetes, {args.repeat} repeats, store {base}")
    print("save")
    ours = timed("airgenome ModelStore.save_model", args.repeat, lambda i: store.save_model(model, meta))

    def raw_minimum(i: int) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "model"
            mlflow.sklearn.save_model(
                forest, str(path), serialization_format="cloudpickle", pip_requirements=_pip_requirements("sklearn")
            )
            run = client.create_run(experiment.experiment_id)
            client.log_artifacts(run.info.run_id, str(path), "model")
            if i == 0:
                client.create_registered_model("bench-raw-minimum")
            client.create_model_version("bench-raw-minimum", f"{run.info.artifact_uri}/model", run.info.run_id)
            client.set_terminated(run.info.run_id)

    minimum = timed("raw MLflow minimum (save_model+log_artifacts+register)", args.repeat, raw_minimum)

    def raw_default(i: int) -> None:
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                forest,
                name="model",
                registered_model_name="bench-raw-default",
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )

    default_repeat = max(2, args.repeat // 5)
    default = timed(f"raw MLflow log_model defaults (x{default_repeat})", default_repeat, raw_default)

    print("load")
    record = store.get_model(canonical_name="/bench/housing/forest")
    loaded = timed("airgenome ModelStore.load_model(id)", args.repeat, lambda i: store.load_model(record.id))
    raw_load = timed(
        "raw mlflow.sklearn.load_model(models:/name/version)",
        args.repeat,
        lambda i: mlflow.sklearn.load_model(f"models:/bench-raw-minimum/{i + 1}"),
    )

    print("search")
    searched = timed(
        "airgenome search_models(canonicalName=..., limit=50)",
        args.repeat,
        lambda i: store.search_models(canonicalName="/bench/housing/forest", limit=50),
    )
    raw_search = timed(
        "raw MlflowClient.search_model_versions(tag filter)",
        args.repeat,
        lambda i: client.search_model_versions("tags.`canonicalName` = '/bench/housing/forest'", max_results=50),
    )

    print("ratios (airgenome / anchor; < 1 is faster)")
    print(f"  save vs raw minimum        {ours / minimum:6.2f}")
    print(f"  save vs log_model defaults {ours / default:6.2f}")
    print(f"  load vs raw load_model     {loaded / raw_load:6.2f}")
    print(f"  search vs raw search       {searched / raw_search:6.2f}")


if __name__ == "__main__":
    main()
