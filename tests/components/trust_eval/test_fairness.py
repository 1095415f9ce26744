"""evaluate.fairness: AIF360's values on a planted bias, linked to the model, clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airgenome.components.context import ComponentFailed, InputRef
from airgenome.components.files import write_table
from airgenome.components.lake import local_path
from airgenome.errors import InvalidInput
from airgenome.evaluations.store import get_evaluation_store

from .conftest import CLASSES, Runner

pytestmark = pytest.mark.slow  # imports AIF360, which imports TensorFlow; the CNN fixture trains a model


def biased_table(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Women's positives are missed a third of the time; age carries no bias."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F"], size=rows)
    age = rng.integers(20, 90, size=rows)
    label = rng.choice(["COVID-19", "normal"], size=rows, p=[0.45, 0.55])
    prediction = label.copy()
    noise = rng.random(rows) < 0.08
    prediction[noise] = np.where(label[noise] == "COVID-19", "normal", "COVID-19")
    missed = (sex == "F") & (label == "COVID-19") & (rng.random(rows) < 0.33)
    prediction[missed] = "normal"
    return pd.DataFrame({"sex": sex, "age": age, "finding": label, "predicted": prediction})


def table_ref(tmp_path: Path, frame: pd.DataFrame) -> InputRef:
    uri, _ = write_table(f"file://{tmp_path}/table", frame)
    return InputRef(uri, "table")


def aif360_direct(frame: pd.DataFrame, privileged: np.ndarray) -> dict[str, float]:
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    truth = pd.DataFrame({"g": privileged.astype(float), "y": (frame["finding"] == "COVID-19").astype(float)})
    guess = truth.assign(y=(frame["predicted"] == "COVID-19").astype(float).to_numpy())
    kw: dict[str, Any] = {"favorable_label": 1.0, "unfavorable_label": 0.0, "label_names": ["y"], "protected_attribute_names": ["g"]}
    metric = ClassificationMetric(
        BinaryLabelDataset(df=truth, **kw), BinaryLabelDataset(df=guess, **kw), unprivileged_groups=[{"g": 0.0}], privileged_groups=[{"g": 1.0}]
    )
    names = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
             "average_odds_difference", "error_rate_difference", "theil_index")
    return {name: float(getattr(metric, name)()) for name in names}


PARAMS = {"label": "finding", "prediction": "predicted", "favorable": "COVID-19",
          "protected": {"sex": ["M"], "age": {"min": 0, "max": 59, "bins": [0, 40, 60, 120]}}}


def test_values_equal_aif360_called_directly_and_the_planted_bias_fails(run: Runner, tmp_path: Path) -> None:
    frame = biased_table()
    result = run("evaluate.fairness", PARAMS, table=table_ref(tmp_path, frame))
    expected_sex = aif360_direct(frame, (frame["sex"] == "M").to_numpy())
    expected_age = aif360_direct(frame, (frame["age"] <= 59).to_numpy())
    for metric, value in expected_sex.items():
        assert result.metrics["sex"][metric] == pytest.approx(value, abs=1e-12), metric
    for metric, value in expected_age.items():
        assert result.metrics["age"][metric] == pytest.approx(value, abs=1e-12), metric
    assert result.metrics["sex"]["equal_opportunity_difference"] < -0.2  # the planted bias
    assert abs(result.metrics["age"]["equal_opportunity_difference"]) < 0.1

    run_record = get_evaluation_store(run.stores.evaluation_store_uri).get(result.evaluation_ids[0])
    assert run_record.status == 0  # the sex bias fails its expectation
    tasks = {task.name: task for task in run_record.tasks}
    sex = tasks["fairness/sex"]
    failed = {e.var for e in sex.expectations if e.status == 0}
    assert "equal_opportunity_difference" in failed
    assert tasks["fairness/age"].status == 1
    # per-group accuracy / TPR / FPR as segments, age bins too
    assert tasks["fairness/sex/privileged"].segment == {"attribute": "sex", "group": "sex in M"}
    assert {"accuracy", "true_positive_rate", "false_positive_rate", "rows"} <= set(tasks["fairness/sex/unprivileged"].metrics)
    assert "fairness/age/[60, 120)" in tasks
    picture = sex.pictures[0]
    data = Path(local_path(picture["uri"]) or "").read_bytes()
    assert data.startswith(b"\x89PNG")
    assert result.outputs["evaluation"].metadata["pictures"]


def test_thresholds_are_overridable(run: Runner, tmp_path: Path) -> None:
    loose = {**PARAMS, "thresholds": {"statistical_parity_difference": 0.5, "equal_opportunity_difference": 0.5,
                                       "disparate_impact_min": 0.1, "disparate_impact_max": 10}}
    result = run("evaluate.fairness", loose, table=table_ref(tmp_path, biased_table()))
    assert get_evaluation_store(run.stores.evaluation_store_uri).get(result.evaluation_ids[0]).status == 1


def test_model_predicts_the_validation_images_and_the_evaluation_links_to_it(run: Runner, cnn: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    paths = cnn["paths"]
    table = pd.DataFrame({
        "image": paths,
        "class": [p.split("/")[0] for p in paths],
        "split": ["validation" if i % 3 == 0 else "train" for i in range(len(paths))],
        "sex": rng.choice(["M", "F"], size=len(paths)),
        "age": rng.integers(20, 90, size=len(paths)),
    })
    params = {"label": "class", "favorable": "square", "protected": {"sex": ["M"], "age": {"max": 59}},
              "thresholds": {"statistical_parity_difference": None, "disparate_impact_min": None,
                             "disparate_impact_max": None, "equal_opportunity_difference": None}}
    result = run("evaluate.fairness", params, table=table_ref(tmp_path, table), model=cnn["model_ref"], images=cnn["images_ref"])
    assert result.model_version == cnn["version"]
    assert set(result.metrics) == {"sex", "age"}
    stored = get_evaluation_store(run.stores.evaluation_store_uri).get(result.evaluation_ids[0])
    assert stored.target_model.id == cnn["version"]
    rows = stored.tasks[[t.name for t in stored.tasks].index("fairness/sex/privileged")].metrics["rows"]
    rows += stored.tasks[[t.name for t in stored.tasks].index("fairness/sex/unprivileged")].metrics["rows"]
    assert rows == len(paths[::3])  # validation subset only
    assert CLASSES[1] == "square"
    found = get_evaluation_store(run.stores.evaluation_store_uri).search(model_id=cnn["version"])
    assert result.evaluation_ids[0] in {item.id for item in found}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protected": {"gender": ["M"]}}, "parameters.protected.gender: column 'gender' is not in the table"),
        ({"protected": {"sex": ["X"]}}, "parameters.protected.sex: no row is in the privileged group"),
        ({"protected": {"age": {"min": 0}}}, "parameters.protected.age: every row is in the privileged group"),
        ({"label": "truth"}, "parameters.label: column 'truth' is not in the table"),
        ({"favorable": "flu"}, "parameters.favorable: 'flu' never occurs in column 'finding'"),
        ({"prediction": None}, "parameters.prediction: give the column holding predictions"),
    ],
)
def test_bad_input_fails_naming_the_parameter_and_writes_nothing(run: Runner, tmp_path: Path, change: dict[str, Any], message: str) -> None:
    store = get_evaluation_store(run.stores.evaluation_store_uri)
    before = store.search(limit=500).total
    with pytest.raises(ComponentFailed, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        run("evaluate.fairness", {**PARAMS, **change}, table=table_ref(tmp_path, biased_table(80)))
    assert store.search(limit=500).total == before


def test_an_undefined_metric_is_an_error_not_a_nan(run: Runner, tmp_path: Path) -> None:
    frame = biased_table(200)
    frame.loc[frame["sex"] == "F", "finding"] = "normal"  # no positives among women: EOD undefined
    with pytest.raises(ComponentFailed, match="equal_opportunity_difference is undefined.*unprivileged group has no favourable labels"):
        run("evaluate.fairness", {**PARAMS, "protected": {"sex": ["M"]}}, table=table_ref(tmp_path, frame))


def test_parameters_are_refused_at_upload_by_path() -> None:
    from airgenome.components import registry

    spec = registry.get("evaluate.fairness")
    with pytest.raises(InvalidInput) as caught:
        spec.parse_parameters({"favorable": 1, "protected": {"age": {"min": 70, "max": 10}, "sex": []}, "thresholds": {"theil": 1}})
    text = str(caught.value)
    assert "parameters.protected" in text and "min must not be above max" in text
    assert "parameters.thresholds.theil: unknown parameter" in text
