"""`GenomeEstimator`: a trained model plus what explaining and serving it needs.

Genome's examples wrap a model with its modality, target classes, feature names, an
optional input preprocessor (images) and the name of the prediction method (text), then
call ``estimator.explainer.sampleExplanations(X)`` to precompute global explanations that
are stored with the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airgenome.errors import InvalidInput
from airgenome.models.metadata import MODALITIES


def detect_framework(model: Any) -> str | None:
    """The framework a model object comes from, by its class's module (no imports)."""
    module = type(model).__module__
    if module.startswith("sklearn."):
        return "sklearn"
    if module.startswith("xgboost."):
        return "xgboost"
    if module.startswith(("keras.", "tf_keras.", "tensorflow.")):
        return "keras"
    if module.startswith("pyspark.ml"):
        return "spark"
    return None


def infer_prediction_type(model: Any) -> str | None:
    """``regression`` / ``classification`` for scikit-learn-style estimators, else None."""
    kind = getattr(model, "_estimator_type", None)
    if kind is None:
        tags = getattr(model, "__sklearn_tags__", None)
        if callable(tags):
            try:
                kind = tags().estimator_type
            except Exception:  # noqa: BLE001 - third-party tag protocols vary; inference is optional
                kind = None
    if kind == "regressor":
        return "regression"
    if kind == "classifier":
        return "classification"
    return None


class SampleExplainer:
    """``genome_model.explainer``: computes and keeps the global explanations."""

    def __init__(self, owner: GenomeEstimator) -> None:
        self._owner = owner
        self.global_explanations: dict[str, Any] | None = None

    def sampleExplanations(self, data: Any) -> dict[str, Any]:  # noqa: N802 - Genome's name
        owner = self._owner
        if owner.modality != "tabular":
            raise InvalidInput(
                f"sampleExplanations precomputes SHAP for tabular models; this is a {owner.modality} "
                "model, explained per request (Grad-CAM for images, LIME for text)",
                details=[{"field": "modality", "message": "sampleExplanations needs modality 'tabular'"}],
            )
        from airgenome.models.global_explanations import sample_explanations

        self.global_explanations = sample_explanations(
            owner.estimator,
            data,
            feature_names=owner.feature_names,
            target_classes=owner.target_classes,
            predict=owner.predict,
        )
        return self.global_explanations

    sample_explanations = sampleExplanations


class GenomeEstimator:
    """Wrap ``estimator`` (scikit-learn incl. pipelines, XGBoost, Keras, Spark ML)."""

    def __init__(
        self,
        estimator: Any,
        *,
        modality: str = "tabular",
        target_classes: Sequence[Any] | None = None,
        feature_names: Sequence[Any] | None = None,
        data_preprocessor: Callable[[Any], Any] | None = None,
        estimator_predict: str | None = None,
    ) -> None:
        problems = []
        if modality not in MODALITIES:
            problems.append({"field": "modality", "message": f"{modality!r} is not one of {', '.join(MODALITIES)}"})
        if data_preprocessor is not None and not callable(data_preprocessor):
            problems.append({"field": "data_preprocessor", "message": "must be a function"})
        # Spark ML models score DataFrames with `transform` (MLflow loads them as PipelineModels).
        predict_name = estimator_predict or ("transform" if detect_framework(estimator) == "spark" else "predict")
        if not isinstance(predict_name, str) or not callable(getattr(estimator, predict_name, None)):
            problems.append(
                {
                    "field": "estimator_predict",
                    "message": f"{predict_name!r} is not a method of {type(estimator).__name__}",
                }
            )
        if problems:
            listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise InvalidInput(f"invalid GenomeEstimator: {listed}", details=problems)
        self.estimator = estimator
        self.modality = modality
        self.target_classes = [str(c) for c in target_classes] if target_classes is not None else None
        self.feature_names = [str(f) for f in feature_names] if feature_names is not None else None
        self.data_preprocessor = data_preprocessor
        self.estimator_predict = predict_name
        self.explainer = SampleExplainer(self)

    @property
    def framework(self) -> str | None:
        return detect_framework(self.estimator)

    @property
    def global_explanations(self) -> dict[str, Any] | None:
        return self.explainer.global_explanations

    def predict(self, data: Any) -> Any:
        """Preprocess (if a preprocessor is set), then call the configured prediction method."""
        if self.data_preprocessor is not None:
            # keras' preprocess_input scales float arrays in place: never touch the caller's data.
            copy = getattr(data, "copy", None)
            data = self.data_preprocessor(copy() if callable(copy) else data)
        method = getattr(self.estimator, self.estimator_predict)
        if detect_framework(self.estimator) == "keras" and self.estimator_predict == "predict":
            return method(data, verbose=0)
        return method(data)

    def __repr__(self) -> str:
        return (
            f"GenomeEstimator({type(self.estimator).__name__}, modality={self.modality!r}, "
            f"estimator_predict={self.estimator_predict!r})"
        )
