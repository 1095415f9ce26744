"""The blessing check every publish component runs itself (not only the DAG's order).

A version is blessed when its ``airgenome.blessing`` tag says BLESSED and the verdict it
points to (``airgenome.blessing.evaluation``) is a passed blessing run for that very version in
the evaluation store. Without a tag, the newest blessing run in the evaluation store decides.
A wired ``blessing`` input must agree (same version, BLESSED). When the policy required human
approval (``airgenome.blessing.approvalRequired``), the approval step's ``Approve`` must be
recorded after the verdict (a Reject already turned the verdict into NOT_BLESSED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airgenome.components.bless.policy import (
    BLESSED,
    BLESSING_CODE,
    TAG_APPROVAL,
    TAG_AT,
    TAG_EVALUATION,
    TAG_VERDICT,
)
from airgenome.components.context import ComponentContext, ComponentFailed
from airgenome.evaluations.records import PASS

if TYPE_CHECKING:
    from airgenome.models.records import ModelRecord

# What the approval step (airgenome.sequence.approval) leaves on the version.
TAG_DECISION = "airgenome.approval.decision"
TAG_DECISION_AT = "airgenome.approval.at"
APPROVE = "Approve"
# Not retried by intent: a refusal is a finding, not a flaky failure (any 1-98 fails the step).
EXIT_REFUSED = 3


@dataclass(frozen=True)
class Blessing:
    version: str
    evaluation_id: str | None
    source: str  # "tag" or "store"


class NotBlessed(ComponentFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_REFUSED)


def require_blessed(ctx: ComponentContext, record: ModelRecord, evaluation_store: Any) -> Blessing:
    """The version's blessing, or `NotBlessed` saying why publishing is refused."""
    from airgenome.errors import NotFound

    refused = f"refusing to publish {record.id}: it is not blessed"
    wired = ctx.inputs.get("blessing")
    if wired is not None:
        verdict = wired.metadata.get("verdict")
        version = wired.metadata.get("version")
        if version not in (None, record.id):
            raise NotBlessed(f"{refused} (the wired blessing judged {version}, not {record.id})")
        if verdict != BLESSED:
            raise NotBlessed(f"{refused} (the wired blessing says {verdict or 'nothing'})")
    tag = record.tags.get(TAG_VERDICT)
    evaluation_id = record.tags.get(TAG_EVALUATION)
    if tag is None:
        page = evaluation_store.search(model_id=record.id, limit=500)
        for summary in page.items:  # newest first
            run = evaluation_store.get(summary.id)
            if run.code == BLESSING_CODE:
                if run.status != PASS:
                    raise NotBlessed(f"{refused} (its latest verdict, evaluation {run.id}, is NOT_BLESSED)")
                return Blessing(record.id, run.id, "store")
        raise NotBlessed(f"{refused} (no verdict recorded: run bless.policy first)")
    if tag != BLESSED:
        raise NotBlessed(f"{refused} (tag {TAG_VERDICT}={tag}, evaluation {evaluation_id})")
    if evaluation_id:
        try:
            run = evaluation_store.get(evaluation_id)
        except NotFound:
            raise NotBlessed(f"{refused} (its verdict {evaluation_id} is not in the evaluation store)") from None
        if run.code != BLESSING_CODE or run.target_model.id != record.id:
            raise NotBlessed(f"{refused} (evaluation {evaluation_id} is not a blessing of {record.id})")
        if run.status != PASS:
            raise NotBlessed(f"{refused} (evaluation {evaluation_id} did not pass)")
    if record.tags.get(TAG_APPROVAL) == "true" and not _approved_after_blessing(record.tags):
        raise NotBlessed(f"refusing to publish {record.id}: its policy requires human approval and no "
                         f"approval was given after the verdict of {record.tags.get(TAG_AT)}")
    return Blessing(record.id, evaluation_id, "tag")


def _approved_after_blessing(tags: dict[str, str]) -> bool:
    from datetime import datetime

    if tags.get(TAG_DECISION) != APPROVE:
        return False
    try:
        return datetime.fromisoformat(tags[TAG_DECISION_AT]) >= datetime.fromisoformat(tags[TAG_AT])
    except (KeyError, ValueError):
        return False


def load_version(ctx: ComponentContext) -> tuple[Any, ModelRecord]:
    """(model store, record) of the wired model input."""
    from airgenome.errors import NotFound

    store = ctx.model_store()
    version = ctx.model_version("model")
    try:
        record: ModelRecord = store.get_model(version)
    except NotFound:
        raise ComponentFailed(f"inputs.model: no model version {version!r} in the model store") from None
    return store, record
