"""Name and version of the model version an evaluation targets, when the model store knows it.

Best effort: the evaluation is stored with its target id whatever happens here. The model
store is asked only when it exists; an embedded store that was never written (no SQLite
file yet) cannot know the id, and asking it would create an MLflow database as a side effect.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _model_store_exists() -> bool:
    from sqlalchemy.engine import make_url

    from airgenome.settings import store_locations

    uri = store_locations().model_store_uri
    if not uri.startswith("sqlite:"):
        return True
    database = make_url(uri).database
    return bool(database) and Path(str(database)).expanduser().exists()


def lookup_model(model_id: str) -> tuple[str | None, str | None] | None:
    """(canonicalName, version) for a model store version id; None when unknown or no model store."""
    if not _model_store_exists():
        return None
    try:
        from airgenome.models.client import lookup_model as model_store_lookup
    except ImportError:
        return None
    try:
        return model_store_lookup(model_id)
    except Exception:  # noqa: BLE001 - an unreachable model store must not lose the evaluation
        log.warning("could not look up model %s in the model store", model_id, exc_info=True)
        return None
