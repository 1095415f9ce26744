"""`publish.mlflow-alias`: move ``champion`` to a blessed version; the former holder keeps ``previous``."""

from __future__ import annotations

from airgenome.components.context import ComponentContext, Result
from airgenome.components.publish.guard import load_version, require_blessed
from airgenome.components.publish.specs import MlflowAliasParameters


def run(ctx: ComponentContext, params: MlflowAliasParameters) -> Result:
    from airgenome.errors import NotFound
    from airgenome.evaluations.store import get_evaluation_store

    store, record = load_version(ctx)
    blessing = require_blessed(ctx, record, get_evaluation_store(ctx.stores.evaluation_store_uri))
    try:
        holder = store.get_model(name=record.name, alias=params.alias)
    except NotFound:
        holder = None
    previous = holder.id if holder is not None and holder.id != record.id else None
    if holder is not None and holder.id == record.id:
        print(f"{record.id} already holds {params.alias!r}")
    else:
        if previous is not None and params.previous_alias:
            store.set_alias(previous, params.previous_alias)
        store.set_alias(record.id, params.alias)
        print(f"{params.alias!r} -> {record.id}" + (f" ({params.previous_alias!r} -> {previous})" if previous else ""))
    result = Result(model_version=record.id, evaluation_ids=[blessing.evaluation_id] if blessing.evaluation_id else [])
    result.add_output(
        "deployment", f"models:/{record.name}@{params.alias}", "deployment", target="mlflow-alias",
        alias=params.alias, version=record.id, previous=previous,
        previousAlias=params.previous_alias if previous else None, blessingEvaluation=blessing.evaluation_id,
    )
    return result
