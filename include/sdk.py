"""Genome's Python SDK in one import, for step code and notebooks.

    from airgenome.sdk import ModelStore, GenomeEstimator
    from airgenome.sdk import GenomeEvaluationRun, evaluation, task

Genome's examples import these from ``.modelstore.client``, ``.modelstore.estimator`` and
``.modelstore.evaluationspec``; changing those import lines to the ones above is enough.
The evaluation names are resolved on first use, so importing the model store alone does
not load the evaluation SDK (and vice versa).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airgenome.models.client import ModelStore
from airgenome.models.estimator import GenomeEstimator
from airgenome.models.records import ModelRecord

if TYPE_CHECKING:
    from airgenome.evaluations.sdk import GenomeEvaluationRun, evaluation, task

_EVALUATION_NAMES = ("GenomeEvaluationRun", "evaluation", "task")

__all__ = ["GenomeEstimator", "GenomeEvaluationRun", "ModelRecord", "ModelStore", "evaluation", "task"]


def __getattr__(name: str) -> Any:
    if name in _EVALUATION_NAMES:
        from airgenome.evaluations import sdk as evaluations_sdk

        return getattr(evaluations_sdk, name)
    raise AttributeError(f"module 'airgenome.sdk' has no attribute {name!r}")
