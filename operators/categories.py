"""One operator class per CLAIMED category, for Python DAG authors.

Each accepts only its category's components (checked at construction) and runs them in the
worker or as a pod, as `ComponentOperator` does. ``FilterOperator(task_id="filter",
component="filter.rows", parameters={...}, inputs={"table": "load.table"})`` builds the very
step that a sequence's ``{"stepName": "filter", "component": "filter.rows", ...}`` does.
"""

from __future__ import annotations

from airgenome.operators.component import ComponentOperator


class InputOperator(ComponentOperator):
    category = "input"
    ui_color = "#e3f2fd"


class TransformOperator(ComponentOperator):
    category = "transform"
    ui_color = "#e8f5e9"


class FilterOperator(ComponentOperator):
    category = "filter"
    ui_color = "#f1f8e9"


class ImageOperator(ComponentOperator):
    category = "image"
    ui_color = "#fff3e0"


class TrainOperator(ComponentOperator):
    category = "train"
    ui_color = "#fce4ec"


class EvaluateOperator(ComponentOperator):
    category = "evaluate"
    ui_color = "#ede7f6"


class BlessOperator(ComponentOperator):
    category = "bless"
    ui_color = "#fffde7"


class PublishOperator(ComponentOperator):
    category = "publish"
    ui_color = "#e0f7fa"


class SparkComponentOperator(ComponentOperator):
    category = "spark"
    ui_color = "#fbe9e7"


class GenomeOperator(ComponentOperator):
    """Genome's utility steps (echo, fail, noop)."""

    category = "genome"
    ui_color = "#eeeeee"


BY_CATEGORY: dict[str, type[ComponentOperator]] = {
    cls.category: cls  # type: ignore[misc]
    for cls in (
        InputOperator,
        TransformOperator,
        FilterOperator,
        ImageOperator,
        TrainOperator,
        EvaluateOperator,
        BlessOperator,
        PublishOperator,
        SparkComponentOperator,
        GenomeOperator,
    )
}
