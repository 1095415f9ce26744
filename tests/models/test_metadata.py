"""Metadata validation, canonicalName -> registered name, version ids (no MLflow needed)."""

from __future__ import annotations

import pytest

from airgenome.errors import InvalidInput, NotFound
from airgenome.models.estimator import GenomeEstimator
from airgenome.models.metadata import validate_metadata
from airgenome.models.records import parse_version_id, registered_name
from tests.models.conftest import meta


def test_complete_metadata_is_accepted() -> None:
    checked = validate_metadata(meta(), detected_framework="sklearn", estimator_modality="tabular")
    assert checked.genome_tags() == {
        "canonicalName": "/tests/forest",
        "application": "search",
        "pipelineName": "pipe-1",
        "pipelineRunId": "run-1",
        "pipelineStage": "model",
        "versionName": "1.0.0",
        "framework": "sklearn",
        "inputModality": "tabular",
        "predictionType": "regression",
    }


def test_every_missing_field_is_named_in_one_error() -> None:
    with pytest.raises(InvalidInput, match="canonicalName: is required") as caught:
        validate_metadata({"framework": "sklearn"})
    assert caught.value.details == [
        {"field": "canonicalName", "message": "is required"},
        {"field": "application", "message": "is required"},
        {"field": "pipelineName", "message": "is required"},
        {"field": "pipelineRunId", "message": "is required"},
        {"field": "pipelineStage", "message": "is required"},
        {"field": "versionName", "message": "is required"},
        {"field": "inputModality", "message": "is required"},
        {"field": "predictionType", "message": "is required (it cannot be inferred from this model)"},
    ]


def test_prediction_type_is_inferred_when_possible() -> None:
    fields = meta()
    del fields["predictionType"]
    assert validate_metadata(fields, inferred_prediction_type="regression").prediction_type == "regression"


def test_bad_values_are_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_metadata(
            meta(framework="torch", inputModality="audio", pipelineRunId="", colour="red"),
            detected_framework="sklearn",
        )
    assert caught.value.details == [
        {"field": "colour", "message": "is not a model metadata field (put free-form values under 'tags')"},
        {"field": "pipelineRunId", "message": "is required"},
        {"field": "framework", "message": "'torch' is not one of sklearn, xgboost, keras, tensorflow, spark"},
        {"field": "inputModality", "message": "'audio' is not one of tabular, image, text"},
    ]


def test_framework_and_modality_must_match_the_model() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_metadata(
            meta(framework="keras", inputModality="image"),
            detected_framework="sklearn",
            estimator_modality="tabular",
        )
    assert caught.value.details == [
        {"field": "inputModality", "message": "'image' differs from the estimator's modality 'tabular'"},
        {"field": "framework", "message": "'keras' does not match the model, which is a sklearn model"},
    ]


def test_tags_inside_metadata_are_checked() -> None:
    fields: dict = meta()
    fields["tags"] = {"airgenome.flavour": "x", "ok": "yes", "n": 3}
    with pytest.raises(InvalidInput) as caught:
        validate_metadata(fields)
    assert caught.value.details == [
        {"field": "tags.airgenome.flavour", "message": "is reserved for the store's own tags"},
        {"field": "tags.n", "message": "must be a string up to 5000 characters"},
    ]


def test_metadata_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        validate_metadata(["canonicalName"])  # type: ignore[arg-type]


def test_registered_names_are_valid_deterministic_and_distinct() -> None:
    assert registered_name("forest-1") == "forest-1"
    mapped = registered_name("/housing/ca/forest-1")
    assert mapped == registered_name("/housing/ca/forest-1")
    assert mapped.startswith("housing.ca.forest-1~")
    assert "/" not in mapped and ":" not in mapped
    others = {registered_name(n) for n in ("/housing/ca/forest-1", "housing/ca/forest-1", "housing.ca.forest-1", "/a:b")}
    assert len(others) == 4


def test_version_ids() -> None:
    assert parse_version_id("housing.ca.forest-1~ab/3") == ("housing.ca.forest-1~ab", 3)
    assert parse_version_id("models:/forest/12") == ("forest", 12)
    for bad in ("forest", "forest/x", "/housing/ca/forest-1", "a/b/3", "/3"):
        with pytest.raises(NotFound, match="no model version with id"):
            parse_version_id(bad)


def test_estimator_arguments_are_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        GenomeEstimator(object(), modality="audio", estimator_predict="predict_proba", data_preprocessor=3)  # type: ignore[arg-type]
    assert [d["field"] for d in caught.value.details] == ["modality", "data_preprocessor", "estimator_predict"]
