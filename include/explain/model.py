"""What an explainer needs to know about a model: the model and Genome's metadata."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from airgenome.errors import InvalidInput

Modality = Literal["tabular", "image", "text"]
MODALITIES: tuple[Modality, ...] = ("tabular", "image", "text")


@dataclass
class ExplainableModel:
    """A fitted model with the metadata a `GenomeEstimator` carries.

    `background` is a data sample (rows) used as the baseline of the linear and kernel
    explainers and as the data a tree visualisation shows; None means "not stored".
    """

    model: Any
    modality: Modality
    target_classes: list[str] | None = None
    feature_names: list[str] | None = None
    data_preprocessor: Callable[[Any], Any] | None = None
    estimator_predict: str | None = None
    background: np.ndarray | None = None
    name: str = "model"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise InvalidInput(f"modality: {self.modality!r} is not one of {', '.join(MODALITIES)}")

    def predict_function(self) -> Callable[[Any], Any]:
        """The model's prediction method named by `estimator_predict` (Genome), else a default."""
        if self.estimator_predict:
            method = getattr(self.model, self.estimator_predict, None)
            if not callable(method):
                raise InvalidInput(f"estimator_predict: the model has no method {self.estimator_predict!r}")
            return method  # type: ignore[no-any-return]
        for name in ("predict_proba", "predict"):
            method = getattr(self.model, name, None)
            if callable(method):
                return method  # type: ignore[no-any-return]
        if callable(self.model):
            return self.model  # type: ignore[no-any-return]
        raise InvalidInput("model: it has no predict_proba, predict or __call__ to explain")


def from_estimator(estimator: Any, *, name: str = "model") -> ExplainableModel:
    """Adapt a `GenomeEstimator` (or anything with the same attributes) without importing it."""
    if isinstance(estimator, ExplainableModel):
        return estimator
    model = getattr(estimator, "estimator", None)
    if model is None:
        model = getattr(estimator, "model", None)
    if model is None:
        raise InvalidInput("model: the stored estimator carries no model")
    background = _first(estimator, ("background",))
    stored = getattr(estimator, "global_explanations", None)
    if background is None and isinstance(stored, dict) and stored.get("data"):
        background = stored["data"]  # the rows sampleExplanations explained
    return ExplainableModel(
        model=model,
        modality=getattr(estimator, "modality", None) or "tabular",
        target_classes=_strings(getattr(estimator, "target_classes", None)),
        feature_names=_strings(getattr(estimator, "feature_names", None)),
        data_preprocessor=getattr(estimator, "data_preprocessor", None),
        estimator_predict=_prediction_method(model, getattr(estimator, "estimator_predict", None)),
        background=None if background is None else np.asarray(background),
        name=name,
    )


def _prediction_method(model: Any, name: str | None) -> str | None:
    """Genome's default `predict` explains class labels; explain probabilities instead."""
    if name == "predict" and callable(getattr(model, "predict_proba", None)):
        return "predict_proba"
    return name


def _first(obj: Any, names: Sequence[str]) -> Any:
    for attr in names:
        value = getattr(obj, attr, None)
        if value is not None:
            return value
    return None


def _strings(values: Any) -> list[str] | None:
    if values is None:
        return None
    return [str(value) for value in values]
