"""CLAIMED's CT-scan pipeline written with the category operators (the Python face of
`dags/sequences/claimed-ct.json`; a test keeps the two identical, task for task).

Every operator validates its parameters and wiring when this file is parsed, and wiring implies
order (an input's producer runs first); the `>>` lines only add what wiring does not say.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airgenome.operators.categories import (
    BlessOperator,
    EvaluateOperator,
    FilterOperator,
    InputOperator,
    PublishOperator,
    TrainOperator,
    TransformOperator,
    approval_task,
)

CANONICAL = "/claimed/ct/covid-classifier"
POSITIVE = "Pneumonia_Viral_COVID-19"

with DAG(
    dag_id="claimed_ct_python",
    schedule=None,
    catchup=False,
    tags=["airgenome", "claimed", "example"],
    doc_md=__doc__,
):
    data = InputOperator(
        task_id="ct-data",
        component="input.synthetic-ct",
        parameters={"count": 600, "image_size": 64, "bias": "sex-marker", "seed": 7},
    )
    fix = TransformOperator(
        task_id="fix-finding",
        component="transform.apply",
        inputs={"table": "ct-data.table"},
        parameters={"column": "finding", "expression": "x.replace('/', '_')"},
    )
    drop = FilterOperator(
        task_id="drop-volumes",
        component="filter.rows",
        inputs={"table": "fix-finding.table"},
        parameters={"predicate": "~metadata.filename.str.contains('.gz')"},
    )
    folders = {"target_column": "finding", "image_column": "filename", "seed": 123, "validation_fraction": 0.3}
    classes = TransformOperator(
        task_id="class-folders",
        component="transform.images-to-class-folders",
        inputs={"table": "drop-volumes.table", "images": "ct-data.images"},
        parameters=folders,
    )
    masks = TransformOperator(
        task_id="mask-folders",
        component="transform.images-to-class-folders",
        inputs={"table": "drop-volumes.table", "images": "ct-data.masks"},
        parameters=folders,
    )
    train = TrainOperator(
        task_id="train",
        component="train.image-classifier",
        inputs={"images": "class-folders.images"},
        parameters={
            "architecture": "small-cnn", "image_shape": [64, 64, 1], "epochs": 8, "batch_size": 32,
            "optimizer": "adam", "learning_rate": 0.002, "seed": 123,
        },
        execution_timeout=timedelta(seconds=1800),
    )
    model_and_images = {"model": "train.model", "images": "class-folders.images"}
    evaluations = [
        EvaluateOperator(
            task_id="confusion-matrix",
            component="evaluate.confusion-matrix",
            inputs=model_and_images,
            parameters={"expectations": {"accuracy": {">=": 0.85}}},
        ),
        EvaluateOperator(
            task_id="fairness",
            component="evaluate.fairness",
            inputs={**model_and_images, "table": "class-folders.table"},
            parameters={"label": "class", "favorable": POSITIVE,
                        "protected": {"sex": ["M"], "age": {"min": 0, "max": 59}}},
        ),
        EvaluateOperator(
            task_id="explanations",
            component="evaluate.explanations",
            inputs={**model_and_images, "masks": "mask-folders.images"},
            parameters={"methods": ["gradcam"], "per_group": 4},
        ),
        EvaluateOperator(
            task_id="robustness",
            component="evaluate.robustness",
            inputs=model_and_images,
            parameters={"attacks": ["fgsm"], "eps": [0.0, 0.01, 0.03], "sample_size": 64},
        ),
    ]
    bless = BlessOperator(
        task_id="bless",
        component="bless.policy",
        inputs={"model": "train.model", "confusion": "confusion-matrix.evaluation", "fairness": "fairness.evaluation",
                "robustness": "robustness.evaluation", "explanations": "explanations.evaluation"},
        parameters={
            "metrics": [{"evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0.85}],
            "fairness": [
                {"attribute": "sex", "metric": "equal_opportunity_difference", ">=": -0.1, "<=": 0.1},
                {"attribute": "sex", "metric": "disparate_impact", ">=": 0.8, "<=": 1.25},
            ],
            "approval": {"required": False},
        },
    )
    approve = approval_task(
        "approve", blessing="bless", timeout=timedelta(minutes=60), default="Reject", ask="whenPolicyRequires"
    )
    champion = PublishOperator(
        task_id="champion",
        component="publish.mlflow-alias",
        inputs={"model": "train.model", "blessing": "bless.blessing"},
        parameters={"alias": "champion", "previous_alias": "previous"},
    )
    kserve = PublishOperator(
        task_id="kserve",
        component="publish.kserve",
        inputs={"model": "train.model", "blessing": "bless.blessing"},
        parameters={"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
    )
    report = PublishOperator(
        task_id="report",
        component="publish.report",
        inputs={"model": "train.model", "blessing": "bless.blessing", "deployment": "kserve.deployment",
                "confusion": "confusion-matrix.evaluation", "fairness": "fairness.evaluation",
                "robustness": "robustness.evaluation", "explanations": "explanations.evaluation"},
        parameters={"title": "CLAIMED CT-scan classifier"},
    )
    masks >> train  # the sequence runs both folder steps before training
    bless >> approve >> [champion, kserve] >> report  # both publish at once, then the report
