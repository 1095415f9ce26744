"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions.

The trusted-AI evaluations: ``evaluate.fairness`` (AIF360), ``evaluate.robustness`` (ART) and
``evaluate.explanations`` (batch Grad-CAM / LIME for images, SHAP for tables, LIME for text).
Each writes a Genome evaluation run linked to the model version it judged, with pictures.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airgenome.components.registry import ComponentSpec, Port, lazy

_FAIRNESS = "airgenome.components.evaluate.fairness"
_ROBUSTNESS = "airgenome.components.evaluate.robustness"
_EXPLANATIONS = "airgenome.components.evaluate.explanations"

Scalar = str | int | float | bool
Subset = Literal["validation", "all"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageInputParameters(_Strict):
    """How pictures from an ``images`` input reach a model (shared by the three components)."""

    subset: Subset = Field(
        default="validation",
        description="which images of the images input are judged: the split manifest's validation "
        "list (or the table's split column) or all of them",
    )
    pixel_range: tuple[float, float] = Field(
        default=(0.0, 255.0),
        description="the range the model expects pixels in: 0..255 values are scaled to it "
        "(Keras image_dataset_from_directory feeds 0..255; a model trained on x/255 wants [0, 1])",
    )
    resize: bool = Field(
        default=True,
        description="resize pictures to the model's input size (as image_dataset_from_directory does); "
        "false refuses pictures of another size",
    )
    batch_size: int = Field(default=64, ge=1, le=1024, description="images per forward pass")

    @field_validator("pixel_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError("must be [low, high] with low < high")
        return value


# --------------------------------------------------------------------------- fairness


class PrivilegedRange(_Strict):
    """A numeric column's privileged group: values in [min, max] (either bound may be left out)."""

    min: float | None = Field(default=None, description="lowest privileged value (inclusive)")
    max: float | None = Field(default=None, description="highest privileged value (inclusive)")
    bins: list[float] | None = Field(
        default=None,
        min_length=2,
        max_length=20,
        description="optional bin edges (ascending): accuracy, TPR and FPR are also reported per bin [a, b)",
    )

    @model_validator(mode="after")
    def _bounds(self) -> PrivilegedRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        if self.bins is not None and any(b >= a for a, b in zip(self.bins[1:], self.bins, strict=False)):
            raise ValueError("bins must be strictly ascending")
        return self


class FairnessThresholds(_Strict):
    """Expectation bounds; null switches a check off (the metric is still reported)."""

    statistical_parity_difference: float | None = Field(default=0.1, ge=0, le=1, description="max |SPD|")
    disparate_impact_min: float | None = Field(default=0.8, ge=0, description="lowest disparate impact")
    disparate_impact_max: float | None = Field(default=1.25, ge=0, description="highest disparate impact")
    equal_opportunity_difference: float | None = Field(default=0.1, ge=0, le=1, description="max |EOD|")
    average_odds_difference: float | None = Field(default=None, ge=0, le=1, description="max |AOD|")
    error_rate_difference: float | None = Field(default=None, ge=0, le=1, description="max |ERD|")
    theil_index: float | None = Field(default=None, ge=0, description="max Theil index")


class FairnessParameters(ImageInputParameters):
    label: str = Field(default="class", min_length=1, max_length=200, description="column of true labels")
    favorable: Scalar = Field(description="the favourable label value (e.g. the positive finding's class)")
    prediction: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="column that already holds predictions; without it the model input predicts",
    )
    protected: dict[str, list[Scalar] | PrivilegedRange] = Field(
        min_length=1,
        max_length=10,
        description='protected column -> its privileged values (a list) or range ({"min": 0, "max": 59})',
    )
    image_column: str = Field(default="image", min_length=1, description="table column naming each image (<class>/<file>)")
    thresholds: FairnessThresholds = Field(default_factory=FairnessThresholds)
    gate: bool = Field(default=False, description="fail the step when the evaluation fails")

    @field_validator("protected")
    @classmethod
    def _privileged_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        for column, spec in value.items():
            if not column:
                raise ValueError("a protected column name must not be empty")
            if isinstance(spec, list) and not spec:
                raise ValueError(f"{column}: list at least one privileged value")
        return value


# --------------------------------------------------------------------------- robustness

Attack = Literal["fgsm", "pgd", "hopskipjump"]
_DEFAULT_ATTACKS: tuple[Attack, ...] = ("fgsm", "pgd")
Comparison = Literal[">=", ">", "<=", "<"]
RobustnessMetric = Literal["accuracy", "accuracy_drop", "flip_rate"]


class RobustnessParameters(ImageInputParameters):
    attacks: list[Attack] = Field(
        default_factory=lambda: list(_DEFAULT_ATTACKS),
        min_length=1,
        max_length=3,
        description="fgsm and pgd need gradients (Keras, linear scikit-learn models); hopskipjump is "
        "black-box (any classifier, bounded by hsj_max_iter / hsj_max_eval)",
    )
    eps: list[float] = Field(
        default_factory=lambda: [0.0, 0.01, 0.03, 0.1],
        min_length=1,
        max_length=10,
        description="perturbation sizes as fractions of the input range (0.03 = 3 % of 0..255)",
    )
    sample_size: int = Field(default=100, ge=1, le=10_000, description="examples attacked (a seeded sample)")
    pgd_max_iter: int = Field(default=10, ge=1, le=200)
    pgd_step_ratio: float = Field(default=0.25, gt=0, le=1, description="PGD step = eps x this")
    hsj_max_iter: int = Field(default=5, ge=1, le=50)
    hsj_max_eval: int = Field(default=100, ge=10, le=5000)
    hsj_init_eval: int = Field(default=10, ge=1, le=100)
    label: str = Field(default="target", min_length=1, description="label column of a table input (tabular models)")
    expectations: dict[str, dict[RobustnessMetric, dict[Comparison, float]]] = Field(
        default_factory=dict,
        description='per eps (as text), bounds on every attack\'s metric: {"0.03": {"accuracy": {">=": 0.5}}}',
    )
    pairs: int = Field(default=6, ge=0, le=50, description="flipped examples kept as prototypes (image pairs)")
    seed: int = 0
    gate: bool = Field(default=False, description="fail the step when the evaluation fails")

    @field_validator("eps")
    @classmethod
    def _eps(cls, value: list[float]) -> list[float]:
        for item in value:
            if not (0.0 <= item <= 1.0):
                raise ValueError(f"{item} is not a fraction of the input range in [0, 1]")
        if len(set(value)) != len(value):
            raise ValueError("eps values must be distinct")
        return sorted(value)

    @field_validator("attacks")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("attacks must be distinct")
        return value

    @model_validator(mode="after")
    def _expectation_keys(self) -> RobustnessParameters:
        for key in self.expectations:
            try:
                eps = float(key)
            except ValueError:
                raise ValueError(f"expectations: key {key!r} is not an eps value") from None
            if not any(math.isclose(eps, e, abs_tol=1e-12) for e in self.eps):
                raise ValueError(f"expectations: eps {key} is not one of the eps values {self.eps}")
        return self


# --------------------------------------------------------------------------- explanations

Method = Literal["gradcam", "lime", "shap"]


class ExplanationsParameters(ImageInputParameters):
    methods: list[Method] | None = Field(
        default=None,
        max_length=3,
        description="default by modality: gradcam (images), shap (tables), lime (text); lime also for images",
    )
    per_group: int = Field(
        default=4, ge=1, le=32, description="examples explained in each group: most confident, least confident, misclassified"
    )
    sample_size: int = Field(default=500, ge=1, le=20_000, description="examples predicted to pick the groups from")
    label: str = Field(default="target", min_length=1, description="label column of a table input (tabular / text)")
    text_column: str = Field(default="text", min_length=1, description="text column of a table input (text models)")
    mask_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="a mask pixel above this fraction of white is inside the region"
    )
    min_heat_inside: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="expectation: the average share of Grad-CAM heat inside the region masks (needs input masks)",
    )
    lime_samples: int = Field(default=200, ge=20, le=2000, description="LIME perturbations per image")
    lime_segments: int = Field(default=50, ge=4, le=400, description="SLIC superpixels per image for LIME")
    seed: int = 0
    gate: bool = Field(default=False, description="fail the step when the evaluation fails")

    @field_validator("methods")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("methods must be distinct")
        return value


SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="evaluate.fairness",
        summary="AIF360 fairness per protected attribute (statistical parity, disparate impact, equal "
        "opportunity, average odds, error rate difference, Theil index; per-group accuracy/TPR/FPR) "
        "on a table with predictions, or on a model that predicts the images or rows of the table",
        load=lazy(_FAIRNESS, "fairness"),
        params=FairnessParameters,
        inputs={
            "table": Port("table", "labels, protected columns and (optionally) predictions"),
            "model": Port("model", "the model version to judge (predicts when the table has no predictions)", required=False),
            "images": Port("images", "class folders with split.json (image models)", required=False),
        },
        outputs={"evaluation": Port("evaluation", "the Genome evaluation run, with a bar chart")},
        extra="fairness",
        example={
            "label": "class",
            "favorable": "COVID-19",
            "protected": {"sex": ["M"], "age": {"min": 0, "max": 59}},
        },
    ),
    ComponentSpec(
        name="evaluate.robustness",
        summary="ART adversarial robustness: clean and adversarial accuracy per eps (FGSM, PGD; "
        "HopSkipJump for black-box models), flipped examples as prototypes with before/after pictures",
        load=lazy(_ROBUSTNESS, "robustness"),
        params=RobustnessParameters,
        inputs={
            "model": Port("model", "the model version to attack"),
            "images": Port("images", "class folders with split.json (image models)", required=False),
            "table": Port("table", "feature columns and a label column (tabular models)", required=False),
        },
        outputs={"evaluation": Port("evaluation", "the Genome evaluation run, with image pairs")},
        extra="robustness",
        example={"attacks": ["fgsm", "pgd"], "eps": [0.0, 0.01, 0.03], "sample_size": 100,
                 "expectations": {"0.03": {"accuracy": {">=": 0.5}}}},
    ),
    ComponentSpec(
        name="evaluate.explanations",
        summary="batch explanations of the most confident, least confident and misclassified examples: "
        "Grad-CAM / LIME overlays for images (share of heat inside region masks), SHAP for tables, LIME for text",
        load=lazy(_EXPLANATIONS, "explanations"),
        params=ExplanationsParameters,
        inputs={
            "model": Port("model", "the model version to explain"),
            "images": Port("images", "class folders with split.json (image models)", required=False),
            "masks": Port("images", "binary region masks at the same relative paths as the images", required=False),
            "table": Port("table", "rows to explain (tabular: features + label; text: text + label)", required=False),
        },
        outputs={"evaluation": Port("evaluation", "the Genome evaluation run, with overlay grids")},
        extra="image",
        example={"methods": ["gradcam"], "per_group": 4, "min_heat_inside": 0.5},
    ),
)
