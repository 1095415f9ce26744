"""Human approval of a blessed model version: what the approver sees, and how the answer is kept.

Airflow-free: `airgenome.operators.categories.BlessApprovalOperator` (Airflow's
``ApprovalOperator``) calls these. The approver sees the upstream blessing step's result
manifest — its ``verdict``, ``model_version``, ``evaluation_ids`` and ``metrics`` — with links
to the evaluations, the model card, its explanations and lineage. The answer is recorded in
two places: on the model version (tags) and in the evaluation store, as an evaluation of the
approval (status pass for Approve, fail for Reject) that targets the version.

A blessing policy may carry approval settings in its manifest (see `approval_settings`):
``required`` (used by steps with ``"ask": "whenPolicyRequires"``: when false the version goes
through without asking anyone, recorded as such); ``subject``, ``body``, ``timeoutMinutes``
and ``default`` fill what the step leaves unset.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from airgenome.sequence.spec import APPROVE, MAX_APPROVAL_MINUTES, REJECT

BLESSED = "BLESSED"
NOT_BLESSED = "NOT_BLESSED"
EVALUATION_NAME = "airgenome/human-approval"
# Tags the decision leaves on the model version (the card shows `blessed`; the rest is detail).
# Tags the decision leaves on the model version. `airgenome.blessing*` are the blessing policy's
# own (the model card's Blessing section and the publish components read them): a rejection
# overrides the verdict; `airgenome.approval.*` keep who answered, when and where.
TAG_VERDICT = "airgenome.blessing"
TAG_REASONS = "airgenome.blessing.reasons"
TAG_VERDICT_AT = "airgenome.blessing.at"
TAG_DECISION = "airgenome.approval.decision"
TAG_BY = "airgenome.approval.by"
TAG_AT = "airgenome.approval.at"
TAG_RUN = "airgenome.approval.run"
TAG_EVALUATION = "airgenome.approval.evaluation"
MAX_METRICS_SHOWN = 12
MAX_EVALUATIONS_SHOWN = 20


@dataclass(frozen=True)
class Upstream:
    """The manifest the approval shows (None when no upstream step left one)."""

    task_id: str | None
    manifest: Mapping[str, Any] | None

    @property
    def model_version(self) -> str | None:
        value = (self.manifest or {}).get("model_version")
        return str(value) if value else None

    @property
    def verdict(self) -> str | None:
        value = (self.manifest or {}).get("verdict")
        return str(value) if value else None

    @property
    def evaluation_ids(self) -> list[str]:
        return [str(e) for e in (self.manifest or {}).get("evaluation_ids") or []]


def choose_upstream(candidates: Iterable[tuple[str, Any]]) -> Upstream:
    """The first manifest (in the given order) that names a verdict or a model version."""
    fallback: Upstream | None = None
    for task_id, manifest in candidates:
        if not isinstance(manifest, Mapping):
            continue
        found = Upstream(task_id, manifest)
        if found.verdict or found.model_version:
            return found
        fallback = fallback or found
    return fallback or Upstream(None, None)


def approval_settings(manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """The blessing policy's approval settings, wherever its manifest carries them.

    Looked up as the manifest's ``approval``, its ``metrics.approval``, then the ``approval``
    metadata of any output (a component's `Result` keeps metadata per output). Only known keys
    with sensible values are kept: ``required`` (bool), ``subject``, ``body`` (text),
    ``timeoutMinutes`` (1..10080), ``default`` ("Approve" / "Reject").
    """
    if not isinstance(manifest, Mapping):
        return {}
    found: Any = manifest.get("approval")
    if not isinstance(found, Mapping):
        metrics = manifest.get("metrics")
        found = metrics.get("approval") if isinstance(metrics, Mapping) else None
    if not isinstance(found, Mapping):
        outputs = manifest.get("outputs")
        for output in (outputs.values() if isinstance(outputs, Mapping) else ()):
            metadata = output.get("metadata") if isinstance(output, Mapping) else None
            if isinstance(metadata, Mapping) and isinstance(metadata.get("approval"), Mapping):
                found = metadata["approval"]
                break
    if not isinstance(found, Mapping):
        return {}
    settings: dict[str, Any] = {}
    if isinstance(found.get("required"), bool):
        settings["required"] = found["required"]
    for key, limit in (("subject", 200), ("body", 5000)):
        if isinstance(found.get(key), str) and found[key].strip():
            settings[key] = found[key][:limit]
    minutes = found.get("timeoutMinutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and 1 <= minutes <= MAX_APPROVAL_MINUTES:
        settings["timeoutMinutes"] = minutes
    if found.get("default") in (APPROVE, REJECT):
        settings["default"] = found["default"]
    return settings


# ------------------------------------------------------------------ what the approver sees
def _md(value: object) -> str:
    """Plain text for Markdown: no HTML, no link or emphasis syntax from data."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    for char in "\\`*_{}[]()<>#|!~":
        text = text.replace(char, "\\" + char)
    return text


def model_page_path(model_version: str) -> str | None:
    """``name/3`` -> ``models/name/versions/3`` (the plugin page takes the registered name)."""
    name, _, version = model_version.removeprefix("models:/").rpartition("/")
    if not name or not version.isdigit():
        return None
    return f"models/{quote(name, safe='')}/versions/{version}"


def _scalar_metrics(metrics: Any) -> list[tuple[str, Any]]:
    """Top-level numbers, texts and booleans, then one level of nesting as ``a.b``."""
    if not isinstance(metrics, Mapping):
        return []
    flat: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        if key == "approval":
            continue
        if isinstance(value, bool | int | float | str):
            flat.append((str(key), value))
        elif isinstance(value, Mapping):
            flat.extend(
                (f"{key}.{inner}", item)
                for inner, item in value.items()
                if isinstance(item, bool | int | float | str)
            )
    return flat


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compose(
    upstream: Upstream,
    *,
    subject: str | None,
    intro: str | None,
    plugin_url: str,
    pipeline_name: str,
) -> tuple[str, str]:
    """(subject, Markdown body): the verdict, key metrics and links to judge by."""
    manifest = upstream.manifest or {}
    model_version = upstream.model_version
    verdict = upstream.verdict
    if subject is None:
        subject = f"Approve {model_version} for publishing?" if model_version else f"Approve {pipeline_name}?"
    lines: list[str] = []
    if intro:
        lines += [intro.strip(), ""]
    if upstream.task_id is None:
        lines.append("No upstream step left a result manifest: there is no verdict to show.")
        return subject, "\n".join(lines)
    lines.append(f"**Verdict** of step `{_md(upstream.task_id)}`: **{_md(verdict or 'none recorded')}**")
    if model_version:
        lines.append("")
        lines.append(f"**Model version**: `{_md(model_version)}`")
        page = model_page_path(model_version)
        if page:
            base = f"{plugin_url}/{page}"
            lines.append(
                f"[model card]({base}) · [explanations]({plugin_url}/api/v1/{page}/explanations/global)"
                f" · [lineage]({base}/lineage) · [reports]({base}/reports)"
            )
    message = manifest.get("message")
    if isinstance(message, str) and message.strip():
        lines += ["", f"**Reasons**: {_md(message[:2000])}"]
    metrics = _scalar_metrics(manifest.get("metrics"))
    if metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(_number(v))} |" for k, v in metrics[:MAX_METRICS_SHOWN]]
        if len(metrics) > MAX_METRICS_SHOWN:
            lines.append(f"| … | {len(metrics) - MAX_METRICS_SHOWN} more in the step's result |")
    evaluations = upstream.evaluation_ids
    if evaluations:
        lines += ["", "**Evaluations**:"]
        lines += [
            f"- [{_md(e)}]({plugin_url}/evaluations/{quote(e, safe='')})"
            for e in evaluations[:MAX_EVALUATIONS_SHOWN]
        ]
        if len(evaluations) > MAX_EVALUATIONS_SHOWN:
            lines.append(f"- … and {len(evaluations) - MAX_EVALUATIONS_SHOWN} more")
    return subject, "\n".join(lines)


# ------------------------------------------------------------------ how the answer is kept
@dataclass(frozen=True)
class Decision:
    """One answer: Approve or Reject, by whom (None: nobody — the timeout's default, or the
    policy not requiring approval), when, and where in Airflow it was asked."""

    choice: str
    by: str | None
    at: datetime
    dag_id: str
    run_id: str
    task_id: str
    timed_out: bool = False
    not_required: bool = False

    @property
    def approved(self) -> bool:
        return self.choice == APPROVE

    @property
    def who(self) -> str:
        if self.not_required:
            return "not required by the blessing policy"
        if self.by:
            return self.by
        return "nobody answered: the timeout's default" if self.timed_out else "unknown"


def responder(user: Any) -> str | None:
    """Airflow's ``responded_by_user`` ({"id", "name"}) as a name."""
    if isinstance(user, Mapping):
        name = user.get("name") or user.get("id")
        return str(name) if name else None
    return str(user) if user else None


def record_decision(
    decision: Decision,
    upstream: Upstream,
    *,
    pipeline_name: str,
    settings: Mapping[str, Any] | None = None,
    evaluation_store: Any = None,
    model_store: Any = None,
) -> dict[str, Any]:
    """Keep the answer in the evaluation store (always) and on the model version (when the
    manifest names one). Returns what was recorded (the approval task's XCom)."""
    from airgenome.evaluations.records import (
        FAIL,
        PASS,
        EvaluationRunRecord,
        ExpectationRecord,
        TargetModel,
        TaskRecord,
    )
    from airgenome.evaluations.sdk import describe_model
    from airgenome.evaluations.store import get_evaluation_store

    model_version = upstream.model_version
    status = PASS if decision.approved else FAIL
    at = decision.at.astimezone(UTC).isoformat()
    verdict = BLESSED if decision.approved else NOT_BLESSED
    metrics = {
        "decision": decision.choice,
        "verdict": verdict,
        "respondedBy": decision.who,
        "respondedAt": at,
        "timedOut": decision.timed_out,
        "upstreamVerdict": upstream.verdict,
    }
    expectation = ExpectationRecord(
        recipe=f"{{decision:{decision.choice!r}}} toBe {APPROVE!r}",
        operator="toBe",
        var="decision",
        value=decision.choice,
        expected=APPROVE,
        expected_var=None,
        status=status,
        message=None if decision.approved else f"rejected by {decision.who} at {at}",
    )
    target = describe_model(model_version) if model_version else TargetModel(id=None)
    run = EvaluationRunRecord(
        id=uuid.uuid4().hex,
        name=EVALUATION_NAME,
        status=status,
        created_at=decision.at.astimezone(UTC),
        target_model=target,
        tasks=(
            TaskRecord(
                position=0,
                name="approval",
                kind="task",
                status=status,
                metrics=metrics,
                expectations=(expectation,),
            ),
        ),
        parameters=json.loads(json.dumps(dict(settings or {}), default=str)),
        pipeline_name=pipeline_name,
        pipeline_stage=decision.task_id,
        pipeline_run_id=decision.run_id,
    )
    store = evaluation_store if evaluation_store is not None else get_evaluation_store()
    saved = store.save(run)
    recorded: dict[str, Any] = {**metrics, "evaluation_id": saved.id, "model_version": model_version}
    if model_version:
        if model_store is None:
            from airgenome.models.client import ModelStore

            model_store = ModelStore()
        tags = {
            TAG_DECISION: decision.choice,
            TAG_BY: decision.who,
            TAG_AT: at,
            TAG_RUN: f"{decision.dag_id}/{decision.run_id}/{decision.task_id}",
            TAG_EVALUATION: saved.id,
        }
        if not decision.approved:
            # No longer blessed, whatever the policy said: the card and the publish steps see it.
            tags[TAG_REASONS] = f"rejected by {decision.who} at {at} (approval {tags[TAG_RUN]})"
            tags[TAG_VERDICT_AT] = at
            tags[TAG_VERDICT] = NOT_BLESSED  # last: readers see a whole verdict
        record = model_store.get_model(model_version)
        for key, value in tags.items():
            model_store.set_system_tag(record, key, value)
        recorded["tags"] = tags
    return recorded
