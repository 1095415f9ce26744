"""One model version's lineage, and its HTML reports, drawn from our stores and Airflow.

dataset assets → step runs → model version → evaluations → blessing → approval → deployment:

- the model store: the version's Genome metadata (``pipelineName``, ``pipelineRunId``,
  ``pipelineStage``, ``datasets``), aliases, and the tags the blessing policy, the approval and
  the publish steps leave (``airgenome.blessing*``, ``airgenome.approval.*``,
  ``airgenome.deployment.*``);
- the evaluation store: every run that targets the version (the approval's run is
  ``airgenome/human-approval``; the policy's verdict is the run the blessing tag names or a
  ``blessing/...`` run);
- Airflow, through its public REST API with the caller's own token (so Airflow's permissions
  apply): the training run and its task instances, the asset events that run produced and the
  ones that triggered it. When Airflow cannot be asked, the stores' part is still returned,
  with ``airflow.available: false`` and the reason.

Reports (``publish.report`` writes HTML into the lake, output kind ``report``) are found in the
version's own pipeline run folder and through Airflow's asset events whose extra names the
version; each is served only from under the lake root.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airgenome.errors import AirgenomeError

if TYPE_CHECKING:
    from airgenome.models.client import ModelStore
    from airgenome.models.records import ModelRecord
    from airgenome.sequence.airflow_api import AirflowApi

APPROVAL_EVALUATION = "airgenome/human-approval"
BLESSING_PREFIX = "blessing/"
TAG_BLESSING = "airgenome.blessing"
TAG_BLESSING_EVALUATION = "airgenome.blessing.evaluation"
DEPLOYMENT_TAG_PREFIX = "airgenome.deployment."
MAX_EVALUATIONS = 200
MAX_EVENTS = 100
_DAG_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_TASK_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


def dag_id_of(pipeline_name: str) -> str:
    """The DAG id a sequence's pipelineName became (as `airgenome.sequence.plan.dag_id_for`)."""
    dag_id = _DAG_ID_BAD.sub("_", pipeline_name.strip())[:250]
    return ("_" + dag_id[1:] if dag_id.startswith(".") else dag_id) or "_"


def task_id_of(step_name: str) -> str:
    return _TASK_ID_BAD.sub("_", step_name.strip())


class Links:
    """Where things are, as the browser sees them."""

    def __init__(self, root: str, airflow_root: str) -> None:
        self.root = root  # the plugin's mount, e.g. /airgenome
        self.airflow = airflow_root  # Airflow's UI prefix ("" at the root)

    def model(self, record: ModelRecord) -> str:
        return f"{self.root}/models/{quote(record.name, safe='')}/versions/{record.version}"

    def evaluation(self, evaluation_id: str) -> str:
        return f"{self.root}/evaluations/{quote(evaluation_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.airflow}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def task(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.run(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"

    def report(self, record: ModelRecord, report_id: str) -> str:
        return (
            f"{self.root}/api/v1/models/{quote(record.name, safe='')}/versions/{record.version}"
            f"/reports/{report_id}"
        )


def _where(links: Links, pipeline: str | None, run_id: str | None, stage: str | None) -> dict[str, Any]:
    """An evaluation's (or step's) place in Airflow, with links when it is known."""
    if not pipeline or not run_id:
        return {"pipelineName": pipeline, "pipelineRunId": run_id, "pipelineStage": stage, "runUrl": None, "taskUrl": None}
    dag_id = dag_id_of(pipeline)
    return {
        "pipelineName": pipeline,
        "pipelineRunId": run_id,
        "pipelineStage": stage,
        "runUrl": links.run(dag_id, run_id),
        "taskUrl": links.task(dag_id, run_id, task_id_of(stage)) if stage else None,
    }


def _evaluations(record: ModelRecord, links: Links) -> tuple[list[dict[str, Any]], str | None]:
    from airgenome.evaluations.store import get_evaluation_store

    try:
        store = get_evaluation_store()
        page = store.search(model_id=record.id, limit=MAX_EVALUATIONS)
        runs = [store.get(summary.id) for summary in page.items]
    except AirgenomeError as error:
        return [], f"evaluation store unavailable: {error.message}"
    found = []
    for run in sorted(runs, key=lambda r: r.created_at):
        found.append(
            {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "statusName": run.summary().to_dict()["statusName"],
                "createdAt": run.created_at.isoformat(),
                "url": links.evaluation(run.id),
                **_where(links, run.pipeline_name, run.pipeline_run_id, run.pipeline_stage),
                "metrics": run.tasks[0].metrics if run.name == APPROVAL_EVALUATION and run.tasks else None,
            }
        )
    return found, None


def _airflow_part(
    api: AirflowApi, record: ModelRecord, links: Links
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(the run, its task instances, assets it produced, assets that triggered it)."""
    pipeline, run_id = record.pipeline_name, record.pipeline_run_id
    if not pipeline or not run_id:
        return None, [], [], []
    dag_id = dag_id_of(pipeline)
    run = api.dag_run(dag_id, run_id)
    if run is None:
        return None, [], [], []
    steps = [
        {
            "taskId": ti.get("task_id"),
            "state": ti.get("state"),
            "operator": ti.get("operator"),
            "startDate": ti.get("start_date"),
            "endDate": ti.get("end_date"),
            "tryNumber": ti.get("try_number"),
            "url": links.task(dag_id, run_id, str(ti.get("task_id"))),
            "producedModel": task_id_of(record.pipeline_stage or "") == ti.get("task_id"),
        }
        for ti in api.task_instances(dag_id, run_id)
        if ti.get("map_index", -1) in (-1, None)
    ]

    def event(item: dict[str, Any]) -> dict[str, Any]:
        source = item.get("source_dag_id"), item.get("source_run_id"), item.get("source_task_id")
        return {
            "name": item.get("name"),
            "uri": item.get("uri"),
            "timestamp": item.get("timestamp"),
            "extra": item.get("extra") or {},
            "sourceDagId": source[0],
            "sourceRunId": source[1],
            "sourceTaskId": source[2],
            "sourceUrl": links.task(*source) if all(source) else None,  # type: ignore[arg-type]
        }

    produced = [event(e) for e in api.asset_events(limit=MAX_EVENTS, source_dag_id=dag_id, source_run_id=run_id)]
    consumed = [event(e) for e in api.upstream_asset_events(dag_id, run_id)]
    summary = {
        "dagId": dag_id,
        "runId": run_id,
        "state": run.get("state"),
        "runType": run.get("run_type"),
        "startDate": run.get("start_date"),
        "endDate": run.get("end_date"),
        "url": links.run(dag_id, run_id),
    }
    return summary, steps, produced, consumed


def build_lineage(
    store: ModelStore, record: ModelRecord, links: Links, api: AirflowApi | None
) -> dict[str, Any]:
    from airgenome.evaluations.cards import model_card

    card = model_card(store, record)
    tags = record.tags
    evaluations, evaluation_note = _evaluations(record, links)
    blessing_id = tags.get(TAG_BLESSING_EVALUATION)
    approvals = [e for e in evaluations if e["name"] == APPROVAL_EVALUATION]
    blessings = [
        e for e in evaluations
        if e not in approvals and (e["id"] == blessing_id or e["name"].startswith(BLESSING_PREFIX))
    ]
    judged = [e for e in evaluations if e not in approvals and e not in blessings]
    airflow: dict[str, Any] = {"available": api is not None, "note": None if api else "Airflow was not asked"}
    run: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []
    produced: list[dict[str, Any]] = []
    consumed: list[dict[str, Any]] = []
    if api is not None:
        try:
            run, steps, produced, consumed = _airflow_part(api, record, links)
        except AirgenomeError as error:
            airflow = {"available": False, "note": error.message}
    blessing = {
        "recorded": card.blessing.recorded,
        "blessed": card.blessing.blessed,
        "verdict": tags.get(TAG_BLESSING) or card.blessing.value,
        "summary": card.blessing.summary,
        "reasons": tags.get("airgenome.blessing.reasons"),
        "at": tags.get("airgenome.blessing.at"),
        "approvalRequired": tags.get("airgenome.blessing.approvalRequired"),
        "evaluations": blessings,
    }
    approval = {
        "decision": tags.get("airgenome.approval.decision"),
        "by": tags.get("airgenome.approval.by"),
        "at": tags.get("airgenome.approval.at"),
        "run": tags.get("airgenome.approval.run"),
        "evaluations": approvals,
    }
    if approval["run"] and approval["run"].count("/") >= 2:
        dag_id, run_id, task_id = approval["run"].rsplit("/", 2)
        approval["taskUrl"] = links.task(dag_id, run_id, task_id)
    deployment = {
        "aliases": list(record.aliases),
        "promoted": bool(record.aliases),
        "targets": {k[len(DEPLOYMENT_TAG_PREFIX):]: v for k, v in sorted(tags.items()) if k.startswith(DEPLOYMENT_TAG_PREFIX)},
    }
    lineage = {
        "model": {
            "id": record.id,
            "name": record.name,
            "version": record.version,
            "canonicalName": record.canonical_name,
            "versionName": record.version_name,
            "createdAt": record.created_at.isoformat(),
            "aliases": list(record.aliases),
            "url": links.model(record),
            **_where(links, record.pipeline_name, record.pipeline_run_id, record.pipeline_stage),
        },
        "datasets": list(card.lineage.datasets),
        "run": run,
        "steps": steps,
        "assets": {"produced": produced, "consumed": consumed},
        "evaluations": judged,
        "evaluationNote": evaluation_note,
        "blessing": blessing,
        "approval": approval,
        "deployment": deployment,
        "airflow": airflow,
    }
    lineage["graph"] = _graph(lineage)
    return lineage


def _graph(lineage: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Nodes and edges in the order dataset → step → model → evaluation → blessing → approval → deployment."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []

    def node(node_id: str, kind: str, label: str, url: str | None = None, state: Any = None) -> str:
        if all(n["id"] != node_id for n in nodes):
            nodes.append({"id": node_id, "kind": kind, "label": label, "url": url, "state": state})
        return node_id

    model = lineage["model"]
    model_node = node(f"model:{model['id']}", "model", f"{model['canonicalName']} v{model['version']}", model["url"])
    stage = model.get("pipelineStage")
    producer = None
    if stage:
        step = next((s for s in lineage["steps"] if s["producedModel"]), None)
        producer = node(f"step:{task_id_of(stage)}", "step", stage, model.get("taskUrl"), step["state"] if step else None)
        edges.append({"from": producer, "to": model_node})
    for step in lineage["steps"]:
        if not step["producedModel"]:
            node(f"step:{step['taskId']}", "step", str(step["taskId"]), step["url"], step["state"])
    for index, dataset in enumerate(lineage["datasets"]):
        ref = dataset.get("ref") if isinstance(dataset, dict) else dataset
        edges.append({"from": node(f"dataset:{index}", "dataset", str(ref)), "to": producer or model_node})
    for event in lineage["assets"]["consumed"]:
        edges.append({"from": node(f"asset:{event['name']}", "dataset", str(event["name"])), "to": producer or model_node})
    for event in lineage["assets"]["produced"]:
        asset = node(f"asset:{event['name']}", "dataset", str(event["name"]))
        if event["sourceTaskId"]:
            edges.append({"from": f"step:{event['sourceTaskId']}", "to": asset})
    last = [model_node]
    evaluation_nodes = [
        node(f"evaluation:{e['id']}", "evaluation", e["name"], e["url"], e["statusName"]) for e in lineage["evaluations"]
    ]
    edges.extend({"from": model_node, "to": n} for n in evaluation_nodes)
    blessing = lineage["blessing"]
    if blessing["recorded"] or blessing["evaluations"]:
        target = blessing["evaluations"][-1] if blessing["evaluations"] else None
        bless = node("blessing", "blessing", str(blessing["verdict"] or blessing["summary"]),
                     target["url"] if target else None, blessing["blessed"])
        edges.extend({"from": n, "to": bless} for n in (evaluation_nodes or last))
        last = [bless]
    approval = lineage["approval"]
    if approval["decision"] or approval["evaluations"]:
        latest = approval["evaluations"][-1] if approval["evaluations"] else None
        label = f"{approval['decision'] or latest and latest['metrics'] and latest['metrics'].get('decision')} by {approval['by']}"
        appr = node("approval", "approval", label, latest["url"] if latest else approval.get("taskUrl"), approval["decision"])
        edges.extend({"from": n, "to": appr} for n in last)
        last = [appr]
    deployment = lineage["deployment"]
    if deployment["promoted"] or deployment["targets"]:
        parts = [f"@{alias}" for alias in deployment["aliases"]] + [f"{k}: {v}" for k, v in deployment["targets"].items()]
        deployed = node("deployment", "deployment", ", ".join(parts))
        edges.extend({"from": n, "to": deployed} for n in last)
    return {"nodes": nodes, "edges": edges}


# ---------------------------------------------------------------------------------- reports
def report_id(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def reports_for(record: ModelRecord, links: Links, api: AirflowApi | None) -> tuple[list[dict[str, Any]], str | None]:
    """HTML reports of a version: its pipeline run's ``report`` outputs in the lake, and asset
    events whose extra names the version. Only URIs under the lake root are listed."""
    from airgenome.components.lake import normalise_root, safe_segment
    from airgenome.plugins.lake_files import Forbidden, check_lake_uri, list_lake_files
    from airgenome.settings import lake_root

    found: dict[str, dict[str, Any]] = {}
    if record.pipeline_name and record.pipeline_run_id:
        folder = "/".join(
            (normalise_root(lake_root()), "runs", safe_segment(record.pipeline_name), safe_segment(record.pipeline_run_id))
        )
        for uri in list_lake_files(folder, ".html"):
            parts = uri[len(folder) + 1:].split("/")
            if len(parts) >= 3 and parts[-2] == "report":
                found[uri] = {"uri": uri, "step": parts[0], "source": "lake", "timestamp": None}
    note = None
    if api is not None:
        try:
            events = api.asset_events(limit=MAX_EVENTS, name_pattern="/report")
        except AirgenomeError as error:
            events, note = [], f"Airflow's asset events were not read: {error.message}"
        for event in events:
            extra = event.get("extra") or {}
            uri = extra.get("uri")
            if extra.get("kind") != "report" or extra.get("version") != record.id or not isinstance(uri, str):
                continue
            try:
                uri = check_lake_uri(uri, "report").uri
            except Forbidden:
                continue
            found.setdefault(uri, {"uri": uri, "step": event.get("source_task_id"), "source": "asset event",
                                   "timestamp": event.get("timestamp")})
    reports = []
    for uri, item in sorted(found.items()):
        ident = report_id(uri)
        reports.append({"id": ident, "name": uri.rsplit("/", 1)[-1], **item, "url": links.report(record, ident)})
    return reports, note
