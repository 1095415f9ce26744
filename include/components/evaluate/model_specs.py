"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions."""

from __future__ import annotations

from airgenome.components.evaluate.confusion import ConfusionMatrixParameters
from airgenome.components.registry import ComponentSpec, Port, lazy

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="evaluate.confusion-matrix",
        summary="judge a classifier on labelled images (the split's validation images) or a table: accuracy, "
        "per-class precision / recall / F1 and the matrix as a picture, as a Genome evaluation linked to the "
        "model version with expectations from parameters; writes the per-example predictions as a table",
        load=lazy("airgenome.components.evaluate.confusion", "confusion_matrix_component"),
        params=ConfusionMatrixParameters,
        inputs={
            "model": Port("model", "the classifier version to judge"),
            "images": Port("images", "class folders (evaluates the split's validation images)", required=False),
            "table": Port("table", "labelled rows (parameter target names the label column)", required=False),
        },
        outputs={
            "evaluation": Port("evaluation", "the Genome evaluation run"),
            "predictions": Port("table", "id, label, prediction, confidence, correct (images: + image; tables: + their columns)"),
        },
        extra="image",  # for images inputs; tables need only the core install
        example={"expectations": {"accuracy": {">=": 0.8}}, "split": "validation", "prototypes": 5},
    ),
)
