"""The evaluations on a model card: runs in the evaluation store that target one model version.

The card itself is the model store's (`airgenome.models.cards`); the evaluation store sits
above the model store (an evaluation judges a model version), so the lookup lives here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airgenome.errors import AirgenomeError
from airgenome.models.cards import MAX_CARD_EVALUATIONS, CardEvaluations, ModelCard

if TYPE_CHECKING:
    from airgenome.models.client import ModelStore
    from airgenome.models.records import ModelRecord

log = logging.getLogger(__name__)


def evaluations_for(model_id: str) -> CardEvaluations:
    """Runs in the evaluation store that target this version (newest first)."""
    from airgenome.evaluations.store import get_evaluation_store

    try:
        page = get_evaluation_store().search(model_id=model_id, limit=MAX_CARD_EVALUATIONS)
    except AirgenomeError as error:
        log.warning("evaluation store unavailable for %s: %s", model_id, error)
        return CardEvaluations(
            available=False, total=0, runs=[], note=f"evaluation store unavailable: {error.message}"
        )
    runs = [summary.to_dict() for summary in page.items]
    return CardEvaluations(available=True, total=int(page.total), runs=runs, note=None)


def model_card(store: ModelStore, record: ModelRecord) -> ModelCard:
    """The full card of one version: the model store's card with its evaluations."""
    return store.card(record, evaluations=evaluations_for(record.id))
