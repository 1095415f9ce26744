"""One operator class per CLAIMED category, for Python DAG authors.

Each accepts only its category's components (checked at construction) and runs them in the
worker or as a pod, as `ComponentOperator` does. ``FilterOperator(task_id="filter",
component="filter.rows", parameters={...}, inputs={"table": "load.table"})`` builds the very
step that a sequence's ``{"stepName": "filter", "component": "filter.rows", ...}`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from airgenome.operators.component import ComponentOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class InputOperator(ComponentOperator):
    category = "input"
    ui_color = "#e3f2fd"


class TransformOperator(ComponentOperator):
    category = "transform"
    ui_color = "#e8f5e9"


class FilterOperator(ComponentOperator):
    category = "filter"
    ui_color = "#f1f8e9"


class ImageOperator(ComponentOperator):
    category = "image"
    ui_color = "#fff3e0"


class TrainOperator(ComponentOperator):
    category = "train"
    ui_color = "#fce4ec"


class EvaluateOperator(ComponentOperator):
    category = "evaluate"
    ui_color = "#ede7f6"


class BlessOperator(ComponentOperator):
    category = "bless"
    ui_color = "#fffde7"


class PublishOperator(ComponentOperator):
    category = "publish"
    ui_color = "#e0f7fa"


class SparkComponentOperator(ComponentOperator):
    category = "spark"
    ui_color = "#fbe9e7"


class GenomeOperator(ComponentOperator):
    """Genome's utility steps (echo, fail, noop)."""

    category = "genome"
    ui_color = "#eeeeee"


BY_CATEGORY: dict[str, type[ComponentOperator]] = {
    cls.category: cls  # type: ignore[misc]
    for cls in (
        InputOperator,
        TransformOperator,
        FilterOperator,
        ImageOperator,
        TrainOperator,
        EvaluateOperator,
        BlessOperator,
        PublishOperator,
        SparkComponentOperator,
        GenomeOperator,
    )
}


# -- human approval -----------------------------------------------------------------------
class BlessApprovalOperator(ApprovalOperator):
    """Airflow's approval task over a blessing step: a person sees the verdict, key metrics and
    links (from the blessing step's result manifest) in Required Actions, or answers through
    ``PATCH /api/v2/dags/{d}/dagRuns/{r}/taskInstances/{t}/-1/hitlDetails``.

    Approve: the steps after it run. Reject: they are skipped, and the version is recorded as
    NOT_BLESSED by that person, with the time, on its tags and in the evaluation store (so is an
    approval). ``response_timeout`` with ``default`` answers for nobody. A sequence step
    ``{"stepName": "approve", "approval": {...}}`` renders as this operator;
    ``approval_task("approve", blessing="bless", timeout=timedelta(hours=1), default="Reject")``
    builds the same in a Python DAG.
    """

    # Nothing is rendered by Jinja: subject and body come from the spec (which refuses "{{")
    # and from the blessing step's manifest, which is data.
    template_fields: Sequence[str] = ()
    ui_color = "#fff8e1"

    def __init__(
        self,
        *,
        subject: str | None = None,
        body: str | None = None,
        blessing_task_ids: Sequence[str] | None = None,
        default: str | None = None,
        response_timeout: timedelta | None = None,
        pipeline_name: str | None = None,
        ask: str = "always",
        **kwargs: Any,
    ) -> None:
        if ask not in ("always", "whenPolicyRequires"):
            raise ValueError(f"ask: {ask!r} is not 'always' or 'whenPolicyRequires'")
        super().__init__(
            subject=subject or "Approve?",
            body=body,
            defaults=default,
            response_timeout=response_timeout,
            **kwargs,
        )
        self.subject_given = subject
        self.intro = body
        self.blessing_task_ids = list(blessing_task_ids) if blessing_task_ids is not None else None
        self.pipeline_name = pipeline_name
        self.ask = ask

    def _upstream(self, context: Context) -> Any:
        from airgenome.sequence.approval import choose_upstream

        sources = self.blessing_task_ids if self.blessing_task_ids is not None else sorted(self.upstream_task_ids)
        ti = context["ti"]
        return choose_upstream((tid, ti.xcom_pull(task_ids=tid, key="return_value")) for tid in sources)

    def _pipeline(self, context: Context) -> str:
        return self.pipeline_name or context["dag"].dag_id

    def execute(self, context: Context) -> Any:
        from airgenome.sequence.approval import APPROVE, Decision, approval_settings, compose, record_decision

        upstream = self._upstream(context)
        settings = approval_settings(upstream.manifest)
        if self.ask == "whenPolicyRequires" and settings.get("required") is not True:
            self.log.info("the blessing policy does not require approval: approved without asking")
            ti = context["ti"]
            decision = Decision(
                choice=APPROVE, by=None, at=datetime.now(UTC), dag_id=ti.dag_id, run_id=ti.run_id,
                task_id=ti.task_id, not_required=True,
            )
            return record_decision(decision, upstream, pipeline_name=self._pipeline(context), settings=settings)
        if self.defaults is None and settings.get("default"):
            self.defaults = [settings["default"]]
        if self.response_timeout is None and settings.get("timeoutMinutes"):
            self.response_timeout = timedelta(minutes=settings["timeoutMinutes"])
        self.subject, self.body = compose(
            upstream,
            subject=self.subject_given or settings.get("subject"),
            intro=self.intro or settings.get("body"),
            plugin_url=_plugin_url(),
            pipeline_name=self._pipeline(context),
        )
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow.sdk.exceptions import DownstreamTasksSkipped

        from airgenome.sequence.approval import Decision, approval_settings, record_decision, responder

        # On Reject, Airflow's ApprovalOperator skips what follows by *raising*
        # DownstreamTasksSkipped (the task runner turns it into skips), so the answer is
        # recorded before that exception is let through: a rejection must never go unrecorded.
        skipped: DownstreamTasksSkipped | None = None
        try:
            answered = super().execute_complete(context=context, event=event)
        except DownstreamTasksSkipped as raised:
            skipped, answered = raised, {"chosen_options": list(event["chosen_options"])}
        ti = context["ti"]
        upstream = self._upstream(context)
        responded_at = event.get("responded_at") or datetime.now(UTC)
        decision = Decision(
            choice=str(answered["chosen_options"][0]),
            by=responder(event.get("responded_by_user")),
            at=responded_at if isinstance(responded_at, datetime) else datetime.fromisoformat(str(responded_at)),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            timed_out=bool(event.get("timedout")),
        )
        recorded = record_decision(
            decision, upstream, pipeline_name=self._pipeline(context), settings=approval_settings(upstream.manifest)
        )
        self.log.info("approval recorded: %s by %s (evaluation %s)", decision.choice, decision.who, recorded["evaluation_id"])
        if skipped is not None:
            raise skipped
        return recorded


def _plugin_url() -> str:
    """Where the plugin's pages are, as the approver's browser sees them (Airflow's base URL)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/airgenome"


def approval_task(
    task_id: str,
    *,
    blessing: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    timeout: timedelta | None = None,
    default: str | None = None,
    ask: str = "always",
    **kwargs: Any,
) -> BlessApprovalOperator:
    """A human approval after a blessing step, for Python DAG authors:
    ``bless >> approval_task("approve", blessing="bless", timeout=timedelta(hours=1), default="Reject") >> publish``.
    """
    return BlessApprovalOperator(
        task_id=task_id,
        subject=subject,
        body=body,
        blessing_task_ids=[blessing] if blessing else None,
        response_timeout=timeout,
        default=default,
        ask=ask,
        **kwargs,
    )
