"""The built-in components. Parameter models come from the implementation modules, which
keep their heavy imports inside functions, so importing this stays cheap (tested)."""

from __future__ import annotations

from airgenome.components.bless.specs import SPECS as BLESS_SPECS
from airgenome.components.ct.specs import SPECS as CT_SPECS
from airgenome.components.data.file_specs import SPECS as DATA_FILE_SPECS
from airgenome.components.data.table_specs import SPECS as DATA_TABLE_SPECS
from airgenome.components.demo_forest import DemoEvaluateParameters, DemoTrainParameters
from airgenome.components.evaluate.model_specs import SPECS as EVALUATE_MODEL_SPECS
from airgenome.components.evaluate.trust_specs import SPECS as EVALUATE_TRUST_SPECS
from airgenome.components.genome import EchoParameters, FailParameters, NoopParameters
from airgenome.components.publish.specs import SPECS as PUBLISH_SPECS
from airgenome.components.registry import ComponentSpec, Port, lazy
from airgenome.components.tabular import ForestParameters, SklearnDatasetParameters
from airgenome.components.train.specs import SPECS as TRAIN_SPECS

_GENOME = "airgenome.components.genome"
_TABULAR = "airgenome.components.tabular"
_DEMO = "airgenome.components.demo_forest"

GENOME_AND_DEMO: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="genome.echo",
        summary="print the Genome step contract; with parameter outputFile, also write it there as JSON",
        load=lazy(_GENOME, "echo"),
        params=EchoParameters,
        example={"greeting": "hello", "outputFile": "/tmp/echo.json"},
    ),
    ComponentSpec(
        name="genome.fail",
        summary="fail with parameter exitCode (default 1) after printing parameter message to stderr",
        load=lazy(_GENOME, "fail"),
        params=FailParameters,
        example={"message": "boom", "exitCode": 3},
    ),
    ComponentSpec(
        name="genome.noop",
        summary="do nothing (orchestration overhead probe); parameter skip ends the step as skipped",
        load=lazy(_GENOME, "noop"),
        params=NoopParameters,
    ),
    ComponentSpec(
        name="input.sklearn-dataset",
        summary="a data set bundled with scikit-learn (iris, wine, diabetes, breast_cancer) as a table",
        load=lazy(_TABULAR, "sklearn_dataset"),
        params=SklearnDatasetParameters,
        outputs={"table": Port("table", "the data set with its target column")},
        example={"dataset": "iris", "target_column": "species"},
    ),
    ComponentSpec(
        name="train.sklearn-forest",
        summary="train a random forest on a table input (or sklearn's diabetes data without one) "
        "and save it to the model store",
        load=lazy(_TABULAR, "sklearn_forest"),
        params=ForestParameters,
        inputs={"table": Port("table", "training data with a target column", required=False)},
        outputs={"model": Port("model", "the saved model version", required=False)},
        aliases=("sklearn.train-forest",),
        example={"n_estimators": 50, "max_depth": 5, "target": "target"},
    ),
    ComponentSpec(
        name="train.genome-demo-forest",
        summary="Genome's tabular example: a 120-tree forest on diabetes data with global SHAP "
        "explanations, saved under the sequence's canonicalName",
        load=lazy(_DEMO, "train"),
        params=DemoTrainParameters,
        outputs={"model": Port("model", "the saved model version")},
        aliases=("genome.demo-train-forest",),
        example={"sampleSize": 300},
    ),
    ComponentSpec(
        name="evaluate.genome-demo-forest",
        summary="evaluate the demo forest (the wired model, else the version this run saved): quality "
        "(minR2), error gap between sexes, worst records as prototypes; gate fails the step on a failed run",
        load=lazy(_DEMO, "evaluate"),
        params=DemoEvaluateParameters,
        inputs={"model": Port("model", "the model version to judge", required=False)},
        outputs={"evaluation": Port("evaluation", "the Genome evaluation run")},
        aliases=("genome.demo-evaluate-forest",),
        example={"minR2": 0.5},
    ),
)

# One tuple per area, each owned by its package (specs.py files), so areas grow independently.
BUILTIN: tuple[ComponentSpec, ...] = (
    GENOME_AND_DEMO
    + DATA_FILE_SPECS
    + DATA_TABLE_SPECS
    + TRAIN_SPECS
    + EVALUATE_MODEL_SPECS
    + EVALUATE_TRUST_SPECS
    + BLESS_SPECS
    + PUBLISH_SPECS
    + CT_SPECS
)
