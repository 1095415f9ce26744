"""Validate Genome's model metadata before anything is written to the store.

Every offending field is reported in one InvalidInput (one detail per field), so a step's
log shows all of them at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airgenome.errors import InvalidInput
from airgenome.models.records import GENOME_FIELDS

# predictionType is required too, but Genome's tabular example omits it: it is inferred from
# scikit-learn/XGBoost estimators (regressor / classifier) and demanded only when it cannot be.
REQUIRED_FIELDS = tuple(field for field in GENOME_FIELDS if field != "predictionType")
OPTIONAL_FIELDS = ("predictionType", "description", "datasets", "tags")

FRAMEWORKS = ("sklearn", "xgboost", "keras", "tensorflow", "spark")
MODALITIES = ("tabular", "image", "text")
PREDICTION_TYPES = ("classification", "regression", "ranking", "clustering", "other")
# Tags the store writes itself; user tags cannot overwrite them.
RESERVED_TAG_PREFIXES = ("airgenome.", "mlflow.")
# The platform's own bookkeeping on a version (blessing, approval, deployment): written only
# through `ModelStore.set_system_tag`, cut to a length every MLflow backend store accepts.
SYSTEM_TAG_PREFIX = "airgenome."
MAX_SYSTEM_TAG_CHARS = 4000
MAX_VALUE_LENGTH = 500


class ModelMetadata(BaseModel):
    """Validated metadata of one model version."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    canonical_name: str = Field(alias="canonicalName")
    application: str
    pipeline_name: str = Field(alias="pipelineName")
    pipeline_run_id: str = Field(alias="pipelineRunId")
    pipeline_stage: str = Field(alias="pipelineStage")
    version_name: str = Field(alias="versionName")
    framework: str
    input_modality: str = Field(alias="inputModality")
    prediction_type: str = Field(alias="predictionType")
    description: str | None = None
    datasets: list[Any] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    def genome_tags(self) -> dict[str, str]:
        """Genome's fields as version tags (their own camelCase names)."""
        data = self.model_dump(by_alias=True, exclude={"description", "datasets", "tags"})
        return {key: str(value) for key, value in data.items()}

    def search_text(self) -> str:
        return " ".join(self.genome_tags().values()).lower()

    def datasets_json(self) -> str:
        return json.dumps(self.datasets, sort_keys=True)


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _check_text(field: str, value: Any, problems: list[dict[str, str]]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(_problem(field, "is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(_problem(field, f"must be a string, got {type(value).__name__}"))
        return None
    text = str(value)
    if len(text) > MAX_VALUE_LENGTH:
        problems.append(_problem(field, f"is longer than {MAX_VALUE_LENGTH} characters"))
        return None
    if any(ord(ch) < 32 for ch in text):
        problems.append(_problem(field, "contains control characters"))
        return None
    return text


def _check_choice(field: str, value: str | None, choices: tuple[str, ...], problems: list[dict[str, str]]) -> None:
    if value is not None and value not in choices:
        problems.append(_problem(field, f"{value!r} is not one of {', '.join(choices)}"))


def validate_metadata(
    meta: Mapping[str, Any] | None,
    *,
    inferred_prediction_type: str | None = None,
    estimator_modality: str | None = None,
    detected_framework: str | None = None,
) -> ModelMetadata:
    """Check ``meta`` as given to ``ModelStore.save_model`` and return it validated."""
    if not isinstance(meta, Mapping):
        raise InvalidInput(
            "model metadata must be a mapping (a dict with canonicalName, application, ...)",
            details=[_problem("metadata", "must be a mapping")],
        )
    problems: list[dict[str, str]] = []
    unknown = sorted(str(key) for key in meta if key not in REQUIRED_FIELDS + OPTIONAL_FIELDS)
    for key in unknown:
        problems.append(
            _problem(key, "is not a model metadata field (put free-form values under 'tags')")
        )

    values: dict[str, Any] = {}
    for field in REQUIRED_FIELDS:
        values[field] = _check_text(field, meta.get(field), problems)

    prediction = meta.get("predictionType") or inferred_prediction_type
    if prediction is None:
        problems.append(
            _problem("predictionType", "is required (it cannot be inferred from this model)")
        )
    else:
        values["predictionType"] = _check_text("predictionType", prediction, problems)

    _check_choice("framework", values.get("framework"), FRAMEWORKS, problems)
    _check_choice("inputModality", values.get("inputModality"), MODALITIES, problems)
    _check_choice("predictionType", values.get("predictionType"), PREDICTION_TYPES, problems)
    if (
        estimator_modality
        and values.get("inputModality")
        and values["inputModality"] != estimator_modality
    ):
        problems.append(
            _problem(
                "inputModality",
                f"{values['inputModality']!r} differs from the estimator's modality {estimator_modality!r}",
            )
        )
    framework = values.get("framework")
    if detected_framework and framework in FRAMEWORKS and not _framework_matches(framework, detected_framework):
        problems.append(
            _problem("framework", f"{framework!r} does not match the model, which is a {detected_framework} model")
        )

    description = meta.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(_problem("description", "must be a string"))
    datasets = meta.get("datasets", [])
    if not isinstance(datasets, list):
        problems.append(_problem("datasets", "must be a list of dataset references"))
    else:
        try:
            json.dumps(datasets)
        except (TypeError, ValueError):
            problems.append(_problem("datasets", "must be JSON-serialisable"))
    tags = _check_tags(meta.get("tags", {}), problems)

    if problems:
        listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(f"invalid model metadata: {listed}", details=problems)
    return ModelMetadata(
        **{key: value for key, value in values.items() if value is not None},
        description=description,
        datasets=datasets,
        tags=tags,
    )


def _framework_matches(declared: str, detected: str) -> bool:
    same = {"keras": {"keras", "tensorflow"}, "tensorflow": {"keras", "tensorflow"}}
    return detected in same.get(declared, {declared})


def _check_tags(tags: Any, problems: list[dict[str, str]]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        problems.append(_problem("tags", "must be a mapping of names to strings"))
        return {}
    checked: dict[str, str] = {}
    for key, value in tags.items():
        field = f"tags.{key}"
        if not isinstance(key, str) or not key or len(key) > 250:
            problems.append(_problem(field, "tag names must be non-empty strings up to 250 characters"))
            continue
        if key in REQUIRED_FIELDS + OPTIONAL_FIELDS or key.startswith(RESERVED_TAG_PREFIXES):
            problems.append(_problem(field, "is reserved for the store's own tags"))
            continue
        if not isinstance(value, str) or len(value) > 5000:
            problems.append(_problem(field, "must be a string up to 5000 characters"))
            continue
        checked[key] = value
    return checked
