"""Genome's evaluation store: the test-like SDK, stored runs, and searching them.

    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
"""

from airgenome.evaluations.datasets import DataRef, register_dataset_resolver
from airgenome.evaluations.records import (
    FAIL,
    NO_EXPECTATIONS,
    PASS,
    EvaluationPage,
    EvaluationRunRecord,
    EvaluationSummary,
    ExpectationRecord,
    TargetModel,
    TaskRecord,
)
from airgenome.evaluations.sdk import (
    EvaluationTask,
    Expectation,
    GenomeEvaluationRun,
    GenomeTestRun,
    evaluation,
    task,
)
from airgenome.evaluations.store import EvaluationQuery, EvaluationStore, get_evaluation_store

__all__ = [
    "FAIL",
    "NO_EXPECTATIONS",
    "PASS",
    "DataRef",
    "EvaluationPage",
    "EvaluationQuery",
    "EvaluationRunRecord",
    "EvaluationStore",
    "EvaluationSummary",
    "EvaluationTask",
    "Expectation",
    "ExpectationRecord",
    "GenomeEvaluationRun",
    "GenomeTestRun",
    "TargetModel",
    "TaskRecord",
    "evaluation",
    "get_evaluation_store",
    "register_dataset_resolver",
    "task",
]
