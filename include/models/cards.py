"""Model cards: one per version, built from its metadata, lineage, stored explanations,
the evaluations that judged it (looked up in the evaluation store by
`airgenome.evaluations.cards`, which sits above the model store) and its blessing (a tag).

Nothing is invented: a blessing shows only when the version carries a ``blessed`` or
``blessing`` tag, evaluations only when the evaluation store holds runs for this version.
"""

from __future__ import annotations

import json
import logging
from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from airgenome.models.global_explanations import top_features
from airgenome.models.records import GENOME_FIELDS, ModelRecord

log = logging.getLogger(__name__)

CARD_SCHEMA_VERSION = 1
MAX_CARD_EVALUATIONS = 20
# bless.policy writes airgenome.blessing (BLESSED / NOT_BLESSED) with its evaluation and reasons.
BLESSING_TAGS = ("airgenome.blessing", "blessed", "blessing")
BLESSING_EVALUATION_TAG = "airgenome.blessing.evaluation"
BLESSING_REASONS_TAG = "airgenome.blessing.reasons"
BLESSING_AT_TAG = "airgenome.blessing.at"
_TRUE = {"true", "1", "yes", "blessed", "approved"}
_FALSE = {"false", "0", "no", "rejected", "not blessed", "not_blessed"}


class CardModel(BaseModel):
    framework: str | None
    flavour: str | None
    estimator_class: str | None = Field(alias="estimatorClass")
    input_modality: str | None = Field(alias="inputModality")
    prediction_type: str | None = Field(alias="predictionType")
    feature_names: list[str] | None = Field(alias="featureNames")
    target_classes: list[str] | None = Field(alias="targetClasses")
    estimator_predict: str | None = Field(alias="estimatorPredict")
    preprocessor: str | None


class CardLineage(BaseModel):
    application: str | None
    pipeline_name: str | None = Field(alias="pipelineName")
    pipeline_run_id: str | None = Field(alias="pipelineRunId")
    pipeline_stage: str | None = Field(alias="pipelineStage")
    step_name: str | None = Field(alias="stepName")
    step_type: str | None = Field(alias="stepType")
    datasets: list[Any]
    mlflow_run_id: str | None = Field(alias="mlflowRunId")
    source: str


class CardExplanations(BaseModel):
    available: bool
    method: str | None = None
    explainer: str | None = None
    sample_size: int | None = Field(default=None, alias="sampleSize")
    explained_rows: int | None = Field(default=None, alias="explainedRows")
    expected: list[float] | None = None
    top_features: list[dict[str, Any]] = Field(default_factory=list, alias="topFeatures")


class CardEvaluations(BaseModel):
    available: bool
    total: int
    runs: list[dict[str, Any]]
    note: str | None = None


class CardBlessing(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    recorded: bool
    blessed: bool | None
    tag: str | None
    value: str | None
    summary: str
    evaluation_id: str | None = Field(default=None, alias="evaluationId")
    reasons: str | None = None
    recorded_at: str | None = Field(default=None, alias="recordedAt")

    @model_serializer(mode="wrap")
    def _without_empty_policy_fields(self, handler: Any) -> Any:
        # The policy's fields show only when bless.policy recorded them (the card keeps its shape).
        data = handler(self)
        if isinstance(data, dict):
            for key in ("evaluation_id", "evaluationId", "reasons", "recorded_at", "recordedAt"):
                if key in data and data[key] is None:
                    del data[key]
        return data


class ModelCard(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_version: int = Field(alias="schemaVersion")
    id: str
    name: str
    version: int
    canonical_name: str = Field(alias="canonicalName")
    version_name: str | None = Field(alias="versionName")
    description: str | None
    created_at: str = Field(alias="createdAt")
    aliases: list[str]
    metadata: dict[str, str | None]
    model: CardModel
    lineage: CardLineage
    explanations: CardExplanations
    evaluations: CardEvaluations
    blessing: CardBlessing
    tags: dict[str, str]


def blessing_of(tags: dict[str, str]) -> CardBlessing:
    for tag in BLESSING_TAGS:
        if tag in tags:
            value = tags[tag]
            lowered = value.strip().lower()
            blessed = True if lowered in _TRUE else False if lowered in _FALSE else None
            state = {True: "blessed", False: "not blessed", None: "blessing recorded"}[blessed]
            return CardBlessing(
                recorded=True, blessed=blessed, tag=tag, value=value, summary=f"{state} ({tag}={value})",
                evaluationId=tags.get(BLESSING_EVALUATION_TAG), reasons=tags.get(BLESSING_REASONS_TAG),
                recordedAt=tags.get(BLESSING_AT_TAG),
            )
    return CardBlessing(recorded=False, blessed=None, tag=None, value=None, summary="no blessing recorded")


def not_looked_up() -> CardEvaluations:
    """A card built without asking the evaluation store (`airgenome.evaluations.cards`)."""
    return CardEvaluations(
        available=False, total=0, runs=[], note="evaluations not looked up for this card"
    )


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in sorted(tags.items())
        if key not in GENOME_FIELDS and not key.startswith(("airgenome.", "mlflow."))
    }


def build_card(
    record: ModelRecord,
    *,
    manifest: dict[str, Any] | None,
    explanations: dict[str, Any] | None,
    evaluations: CardEvaluations,
) -> ModelCard:
    tags = record.tags
    manifest = manifest or {}
    preprocessor = manifest.get("preprocessor")
    try:
        datasets = json.loads(tags.get("airgenome.datasets", "[]"))
    except ValueError:
        datasets = []
    if explanations:
        explained = CardExplanations(
            available=True,
            method=explanations.get("method"),
            explainer=explanations.get("explainer"),
            sampleSize=explanations.get("sampleSize"),
            explainedRows=explanations.get("explainedRows"),
            expected=explanations.get("expected"),
            topFeatures=top_features(explanations),
        )
    else:
        explained = CardExplanations(available=False)
    return ModelCard(
        schemaVersion=CARD_SCHEMA_VERSION,
        id=record.id,
        name=record.name,
        version=record.version,
        canonicalName=record.canonical_name,
        versionName=record.version_name,
        description=record.description,
        createdAt=record.created_at.isoformat(),
        aliases=record.aliases,
        metadata=record.metadata,
        model=CardModel(
            framework=record.framework,
            flavour=tags.get("airgenome.flavour"),
            estimatorClass=tags.get("airgenome.estimatorClass"),
            inputModality=record.input_modality,
            predictionType=record.prediction_type,
            featureNames=manifest.get("featureNames"),
            targetClasses=manifest.get("targetClasses"),
            estimatorPredict=manifest.get("estimatorPredict"),
            preprocessor=f"{preprocessor.get('module')}.{preprocessor.get('name')}" if preprocessor else None,
        ),
        lineage=CardLineage(
            application=record.application,
            pipelineName=record.pipeline_name,
            pipelineRunId=record.pipeline_run_id,
            pipelineStage=record.pipeline_stage,
            stepName=tags.get("airgenome.stepName"),
            stepType=tags.get("airgenome.stepType"),
            datasets=datasets if isinstance(datasets, list) else [],
            mlflowRunId=record.run_id,
            source=record.source,
        ),
        explanations=explained,
        evaluations=evaluations,
        blessing=blessing_of(tags),
        tags=_user_tags(tags),
    )


# -- HTML -------------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _rows(pairs: list[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>" for key, value in pairs)


STATUS_CLASS = {"pass": "pass", "fail": "fail", "none": "none"}


def render_card_html(card: ModelCard, root: str = "") -> str:
    """The card as an HTML fragment; every value escaped. ``root`` prefixes links."""
    data = card.model_dump(by_alias=True, mode="json")
    parts = [f"<section class='card model-card' id='model-card'><h2>Model card: {_e(card.canonical_name)} v{card.version}</h2>"]
    if card.description:
        parts.append(f"<p>{_e(card.description)}</p>")
    parts.append("<h3>Metadata</h3><table>" + _rows(list(card.metadata.items())) + "</table>")
    parts.append(
        "<h3>Model</h3><table>"
        + _rows(
            [
                ("id", card.id),
                ("registered name", card.name),
                ("version", card.version),
                ("aliases", ", ".join(card.aliases) or "none"),
                ("created", card.created_at),
                *[(key, value if not isinstance(value, list) else ", ".join(map(str, value))) for key, value in data["model"].items()],
            ]
        )
        + "</table>"
    )
    lineage = data["lineage"]
    lineage_pairs = [(k, v) for k, v in lineage.items() if k != "datasets"]
    lineage_pairs.append(("datasets", json.dumps(lineage["datasets"]) if lineage["datasets"] else "none recorded"))
    parts.append("<h3>Lineage</h3><table>" + _rows(lineage_pairs) + "</table>")

    explanations = card.explanations
    if explanations.available:
        features = "".join(
            f"<tr><td>{_e(f['feature'])}</td><td>{_e(f['meanAbsShap'])}</td></tr>" for f in explanations.top_features
        )
        parts.append(
            f"<h3>Global explanations</h3><p>{_e(explanations.explainer)} over {_e(explanations.explained_rows)} "
            f"of {_e(explanations.sample_size)} sample rows; base value {_e(explanations.expected)}.</p>"
            f"<table><tr><th>feature</th><th>mean |SHAP|</th></tr>{features}</table>"
        )
    else:
        parts.append("<h3>Global explanations</h3><p>none stored with this version</p>")

    evaluations = card.evaluations
    if not evaluations.available:
        parts.append(f"<h3>Evaluations</h3><p>{_e(evaluations.note)}</p>")
    elif not evaluations.runs:
        parts.append("<h3>Evaluations</h3><p>no evaluations recorded for this version</p>")
    else:
        rows = "".join(
            f"<tr><td><a href='{_e(root)}/evaluations/{_e(run['id'])}'>{_e(run['name'])}</a></td>"
            f"<td class='{STATUS_CLASS.get(str(run.get('statusName')), 'none')}'>{_e(run.get('statusName'))}</td>"
            f"<td>{_e(run.get('versionName'))}</td><td>{_e(run.get('createdAt'))}</td></tr>"
            for run in evaluations.runs
        )
        parts.append(
            f"<h3>Evaluations ({evaluations.total})</h3><table><tr><th>evaluation</th><th>status</th>"
            f"<th>version</th><th>created</th></tr>{rows}</table>"
        )
    blessing = card.blessing
    css = "pass" if blessing.blessed else "fail" if blessing.blessed is False else "none"
    parts.append(f"<h3>Blessing</h3><p class='{css}'>{_e(blessing.summary)}</p>")
    if blessing.evaluation_id:
        parts.append(
            f"<p>Verdict recorded {_e(blessing.recorded_at)} as evaluation "
            f"<a href='{_e(root)}/evaluations/{_e(blessing.evaluation_id)}'>{_e(blessing.evaluation_id)}</a></p>"
        )
    if blessing.reasons:
        parts.append(f"<p class='blessing-reasons'>{_e(blessing.reasons)}</p>")
    if card.tags:
        parts.append("<h3>Tags</h3><table>" + _rows(list(card.tags.items())) + "</table>")
    parts.append("</section>")
    return "".join(parts)


def render_card_document(card: ModelCard, root: str = "") -> str:
    """A standalone HTML document (for ``.../card.html``)."""
    style = (
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2433}"
        "table{border-collapse:collapse}th,td{border:1px solid #dde1e6;padding:.3rem .6rem;text-align:left}"
        ".pass{color:#13795b}.fail{color:#c0362c}.none{color:#6b7280}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Model card {_e(card.canonical_name)} "
        f"v{card.version}</title><style>{style}</style></head><body>{render_card_html(card, root)}</body></html>"
    )
