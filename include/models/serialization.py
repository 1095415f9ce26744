"""Write a GenomeEstimator to a model directory in its framework's MLflow flavour, and back.

Layout of the directory stored for each version::

    MLmodel, ...               the MLflow flavour (sklearn / xgboost / tensorflow / spark)
    genome.json                modality, classes, features, predict method, preprocessor
    global_explanations.json   sampleExplanations' result, when computed
    preprocessor.pkl           a user-supplied preprocessing function (cloudpickle), if any

Trust boundary: scikit-learn models are stored with cloudpickle and a custom preprocessor
as a cloudpickle file, so LOADING a model runs code chosen by whoever SAVED it — loading
from a store means trusting everyone who can write to it (as with any pickled model).
Nothing is ever imported from a user's spec: known Keras preprocessors are stored as
a reference and resolved only inside an allow-list of modules.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from airgenome.errors import InvalidInput
from airgenome.models.estimator import GenomeEstimator, detect_framework

GENOME_FILE = "genome.json"
EXPLANATIONS_FILE = "global_explanations.json"
PREPROCESSOR_FILE = "preprocessor.pkl"
FORMAT_VERSION = 1
# Preprocessors referenced by module + name (no pickle), e.g. keras' preprocess_input.
REFERENCE_MODULE_PREFIXES = (
    "keras.src.applications.",
    "keras.applications.",
    "tensorflow.keras.applications.",
    "tf_keras.src.applications.",
)


def _requirement(distribution: str) -> str:
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return distribution


def _pip_requirements(framework: str) -> list[str]:
    # Explicit requirements skip MLflow's environment inference (~4 s -> ~0.04 s per save).
    packages = {
        "sklearn": ["scikit-learn", "cloudpickle", "numpy"],
        "xgboost": ["xgboost-cpu", "scikit-learn", "numpy"],
        "keras": ["tensorflow-cpu", "keras", "numpy"],
        "spark": ["pyspark"],
    }[framework]
    return [_requirement(name) for name in packages]


def save_flavour(model: Any, framework: str, path: Path) -> str:
    """Save ``model`` with MLflow's flavour for ``framework`` into ``path``; returns the flavour."""
    if framework == "sklearn":
        import mlflow.sklearn

        mlflow.sklearn.save_model(
            model,
            str(path),
            serialization_format="cloudpickle",
            pip_requirements=_pip_requirements("sklearn"),
        )
        return "sklearn"
    if framework == "xgboost":
        import mlflow.xgboost

        mlflow.xgboost.save_model(model, str(path), pip_requirements=_pip_requirements("xgboost"))
        return "xgboost"
    if framework in ("keras", "tensorflow"):
        import mlflow.tensorflow

        mlflow.tensorflow.save_model(model, str(path), pip_requirements=_pip_requirements("keras"))
        return "tensorflow"
    if framework == "spark":
        import mlflow.spark

        mlflow.spark.save_model(model, str(path), pip_requirements=_pip_requirements("spark"))
        return "spark"
    raise InvalidInput(
        f"framework: cannot store {framework!r} models",
        details=[{"field": "framework", "message": f"unsupported framework {framework!r}"}],
    )


def load_flavour(flavour: str, path: Path) -> Any:
    if flavour == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(path))
    if flavour == "xgboost":
        import mlflow.xgboost

        return mlflow.xgboost.load_model(str(path))
    if flavour == "tensorflow":
        import mlflow.tensorflow

        return mlflow.tensorflow.load_model(str(path))
    if flavour == "spark":
        import mlflow.spark

        return mlflow.spark.load_model(str(path))
    raise InvalidInput(f"stored model has an unknown flavour {flavour!r}")


def _preprocessor_entry(function: Any, path: Path) -> dict[str, Any] | None:
    if function is None:
        return None
    module = getattr(function, "__module__", "") or ""
    name = getattr(function, "__qualname__", "") or ""
    if module.startswith(REFERENCE_MODULE_PREFIXES) and name.isidentifier():
        return {"kind": "reference", "module": module, "name": name}
    import cloudpickle

    (path / PREPROCESSOR_FILE).write_bytes(cloudpickle.dumps(function))
    return {"kind": "cloudpickle", "file": PREPROCESSOR_FILE, "module": module, "name": name}


def _load_preprocessor(entry: dict[str, Any] | None, path: Path) -> Any:
    if not entry:
        return None
    if entry.get("kind") == "reference":
        module = str(entry["module"])
        if not module.startswith(REFERENCE_MODULE_PREFIXES):
            raise InvalidInput(f"stored preprocessor module {module!r} is outside the allow-list")
        return getattr(importlib.import_module(module), str(entry["name"]))
    import cloudpickle

    return cloudpickle.loads((path / str(entry["file"])).read_bytes())


def write_model_dir(estimator: GenomeEstimator, framework: str, path: Path) -> dict[str, Any]:
    """Write everything for one version under ``path`` (which must not exist yet)."""
    flavour = save_flavour(estimator.estimator, framework, path)
    manifest = {
        "formatVersion": FORMAT_VERSION,
        "flavour": flavour,
        "framework": framework,
        "estimatorClass": f"{type(estimator.estimator).__module__}.{type(estimator.estimator).__name__}",
        "modality": estimator.modality,
        "targetClasses": estimator.target_classes,
        "featureNames": estimator.feature_names,
        "estimatorPredict": estimator.estimator_predict,
        "preprocessor": _preprocessor_entry(estimator.data_preprocessor, path),
        "hasGlobalExplanations": estimator.global_explanations is not None,
    }
    (path / GENOME_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if estimator.global_explanations is not None:
        (path / EXPLANATIONS_FILE).write_text(json.dumps(estimator.global_explanations))
    return manifest


def read_model_dir(path: Path) -> GenomeEstimator:
    manifest = json.loads((path / GENOME_FILE).read_text())
    model = load_flavour(str(manifest["flavour"]), path)
    predict_name = manifest.get("estimatorPredict")
    if manifest["flavour"] == "spark" and not callable(getattr(model, str(predict_name), None)):
        predict_name = "transform"  # MLflow wraps Spark models in a PipelineModel
    estimator = GenomeEstimator(
        model,
        modality=manifest["modality"],
        target_classes=manifest.get("targetClasses"),
        feature_names=manifest.get("featureNames"),
        data_preprocessor=_load_preprocessor(manifest.get("preprocessor"), path),
        estimator_predict=predict_name,
    )
    explanations = path / EXPLANATIONS_FILE
    if explanations.exists():
        estimator.explainer.global_explanations = json.loads(explanations.read_text())
    return estimator


def framework_of(estimator: GenomeEstimator) -> str | None:
    return detect_framework(estimator.estimator)
