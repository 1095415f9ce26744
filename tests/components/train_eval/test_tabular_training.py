"""train.sklearn (allow-list, hyper-parameters by path) and evaluate.confusion-matrix on a table."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from airgenome.components import registry
from airgenome.components.lake import local_path
from airgenome.components.runtime import EXIT_BAD_INPUT
from airgenome.components.train.sklearn import ESTIMATORS, _estimator_class, hyperparameter_model
from airgenome.errors import InvalidInput
from tests.components.train_eval.helpers import run


def _table(root: Path, name: str, frame: Any) -> dict[str, Any]:
    from airgenome.components.files import write_table

    uri, facts = write_table((root / "tables" / name).as_uri(), frame)
    return {"table": {"uri": uri, "kind": "table", "metadata": facts}}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train-eval-tables")


@pytest.fixture(scope="module")
def crafted(root: Path) -> dict[str, Any]:
    """A depth-unlimited tree on x -> class (0 a, 1 b, 2 c): its predictions are known exactly."""
    import pandas as pd

    frame = pd.DataFrame({"x": [0, 1, 2] * 10, "label": ["a", "b", "c"] * 10})
    parameters = {"estimator": "decision_tree_classifier", "target": "label", "test_size": 0.2}
    code, manifest = run("train.sklearn", root, "train-tree", parameters, _table(root, "crafted", frame))
    assert code == 0, manifest
    return manifest


def test_every_allowed_hyperparameter_is_in_the_estimator_s_own_signature() -> None:
    for name, entry in ESTIMATORS.items():
        cls = _estimator_class(entry)
        if entry.module == "xgboost":  # XGBClassifier(**kwargs) forwards to XGBModel
            import xgboost

            cls = xgboost.XGBModel
        accepted = set(inspect.signature(cls.__init__).parameters)
        assert set(entry.hyperparameters) <= accepted, (name, set(entry.hyperparameters) - accepted)
        assert ("random_state" in accepted) == entry.seeded, name
        assert set(hyperparameter_model(name).model_fields) == set(entry.hyperparameters)


def test_hyperparameters_are_checked_at_upload_by_path() -> None:
    spec = registry.get("train.sklearn")
    bad = {
        "estimator": "random_forest_classifier",
        "hyperparameters": {"n_estimators": "10", "max_dept": 3, "criterion": "squared_error", "bootstrap": 1},
    }
    with pytest.raises(InvalidInput) as caught:
        spec.parse_parameters(bad, where="steps[2].parameters")
    assert {d["loc"] for d in caught.value.details} == {
        "steps[2].parameters.hyperparameters.n_estimators",
        "steps[2].parameters.hyperparameters.max_dept",
        "steps[2].parameters.hyperparameters.criterion",
        "steps[2].parameters.hyperparameters.bootstrap",
    }
    with pytest.raises(InvalidInput) as caught:
        spec.parse_parameters({"estimator": "sklearn.ensemble.RandomForestClassifier"})
    assert [d["loc"] for d in caught.value.details] == ["parameters.estimator"]
    good = spec.parse_parameters(
        {"estimator": "xgboost_classifier", "hyperparameters": {"n_estimators": 5, "learning_rate": 0.3}}
    )
    assert good.hyperparameters == {"n_estimators": 5, "learning_rate": 0.3}


def test_a_classifier_trains_on_a_table_and_is_saved_with_scores_and_lineage(root: Path, crafted: dict[str, Any]) -> None:
    from airgenome.models.client import ModelStore
    from airgenome.settings import StoreLocations

    assert crafted["metrics"]["accuracy"] == 1.0 and crafted["metrics"]["classes"] == ["a", "b", "c"]
    assert crafted["metrics"]["test_rows"] == 6
    stores = StoreLocations.under(root / "stores")
    record = ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts).get_model(crafted["model_version"])
    assert (record.framework, record.prediction_type, record.pipeline_stage) == ("sklearn", "classification", "train-tree")
    assert record.tags["estimator"] == "decision_tree_classifier" and record.tags["score.accuracy"] == "1.0"
    assert "tables/crafted" in record.tags["lineage.inputs"]


def test_xgboost_with_string_labels_and_a_categorical_column(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "blue"], 120)
    value = rng.normal(0, 1, 120)
    frame = pd.DataFrame({"colour": colour, "value": value, "y": np.where(colour == "red", "yes", "no")})
    parameters = {"estimator": "xgboost_classifier", "target": "y", "hyperparameters": {"n_estimators": 10}}
    code, manifest = run("train.sklearn", root, "train-xgb", parameters, _table(root, "xgb", frame))
    assert code == 0, manifest
    assert manifest["metrics"]["accuracy"] == 1.0 and manifest["metrics"]["classes"] == ["no", "yes"]
    # Regressors refuse a text target; a single class is refused for classifiers.
    code, _ = run("train.sklearn", root, "train-bad", {"estimator": "ridge", "target": "y"}, _table(root, "xgb", frame))
    assert code == 1 and "parameters.target: ridge is a regressor; column 'y' is not numeric" in capsys.readouterr().err
    one = frame.assign(y="yes")
    code, _ = run("train.sklearn", root, "train-one", {"target": "y"}, _table(root, "one", one))
    assert code == 1 and "holds a single class" in capsys.readouterr().err


def test_confusion_matrix_values_are_exact_on_a_crafted_case(root: Path, crafted: dict[str, Any]) -> None:
    import pandas as pd

    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.settings import StoreLocations

    # Predictions follow x exactly; labels disagree on two rows.
    frame = pd.DataFrame({
        "x": [0, 0, 0, 0, 1, 1, 2, 2],
        "label": ["a", "a", "a", "b", "b", "b", "c", "a"],
    })  # fmt: skip
    parameters = {
        "target": "label",
        "expectations": {"accuracy": {">=": 0.8}, "recall.c": {">=": 0.9}, "precision.b": {"==": 1.0}},
        "prototypes": 2,
    }
    wired = {"model": crafted["outputs"]["model"], **_table(root, "judge", frame)}
    code, manifest = run("evaluate.confusion-matrix", root, "confusion", parameters, wired)
    assert code == 0, manifest
    metrics = manifest["metrics"]
    assert metrics["classes"] == ["a", "b", "c"]
    assert metrics["confusion_matrix"] == [[3, 0, 1], [1, 2, 0], [0, 0, 1]]
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["per_class"]["a"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert metrics["per_class"]["b"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert metrics["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert metrics["macro_f1"] == pytest.approx((0.75 + 0.8 + 2 / 3) / 3)
    assert metrics["status"] == 0  # accuracy 0.75 < 0.8

    stored = get_evaluation_store(StoreLocations.under(root / "stores").evaluation_store_uri).get(
        manifest["evaluation_ids"][0]
    )
    assert stored.target_model.id == crafted["model_version"]
    tasks = {t.name: t for t in stored.tasks if t.kind == "task"}
    assert [e.status for e in tasks["overall"].expectations] == [0]
    assert [e.status for e in tasks["class c"].expectations] == [1]
    assert [e.status for e in tasks["class b"].expectations] == [1]
    assert tasks["overall"].metrics["matrix"] == [[3, 0, 1], [1, 2, 0], [0, 0, 1]]
    prototypes = [t for t in stored.tasks if t.kind == "prototype"]
    assert {p.prototype_ref["ref"] for p in prototypes} == {"3", "7"}
    assert Path(local_path(tasks["overall"].pictures[0]["uri"]) or "").stat().st_size > 1000

    predictions = pd.read_parquet(local_path(manifest["outputs"]["predictions"]["uri"]))
    assert list(predictions.columns) == ["id", "x", "label", "prediction", "confidence", "correct"]
    assert predictions["prediction"].tolist() == ["a", "a", "a", "a", "b", "b", "c", "c"]
    assert predictions["correct"].sum() == 6


def test_confusion_matrix_bad_input_names_the_parameter(root: Path, crafted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [0, 1], "label": ["a", "z"]})
    wired = {"model": crafted["outputs"]["model"], **_table(root, "unknown-label", frame)}
    code, _ = run("evaluate.confusion-matrix", root, "c1", {"target": "label"}, wired)
    assert code == 1 and "inputs.table: labels z of column 'label' are not among the model's classes (a, b, c)" in capsys.readouterr().err
    code, _ = run("evaluate.confusion-matrix", root, "c2", {"target": "label", "expectations": {"recall.q": {">": 0}}}, wired)
    assert code == 1 and "parameters.expectations.recall.q: the model has no class 'q'" in capsys.readouterr().err
    code, _ = run("evaluate.confusion-matrix", root, "c3", {"expectations": {"auc": {">": 0}}}, wired)
    assert code == EXIT_BAD_INPUT and "parameters.expectations.auc.[key]: Value error, unknown metric 'auc'" in capsys.readouterr().err
    code, _ = run("evaluate.confusion-matrix", root, "c4", {}, wired)
    assert code == 1 and "parameters.target: required with a table input" in capsys.readouterr().err
