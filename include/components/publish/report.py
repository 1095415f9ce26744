"""`publish.report`: one self-contained HTML report of a model version, written to the lake.

Sections: the model card, the blessing (verdict and every reason), explanations (global SHAP from
the card and explanation evaluations), every evaluation of the version (wired ones first, then
the evaluation store's) with tasks, metrics, expectations and pictures, and the lineage the stores
and the wired result manifests know. Pictures are embedded as ``data:`` URIs; nothing loads
from elsewhere (no CDN, no script). Every value is escaped with `html.escape`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from airgenome.components.context import ComponentContext, Result
from airgenome.components.publish.guard import load_version, require_blessed
from airgenome.components.publish.specs import REPORT_EVALUATION_INPUTS, ReportParameters

if TYPE_CHECKING:
    from airgenome.evaluations.records import EvaluationRunRecord
    from airgenome.models.records import ModelRecord

EMBEDDABLE = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
LINKABLE_SCHEMES = ("http://", "https://", "file://")
MAX_PROTOTYPES_SHOWN = 20
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;color:#1d2433}"
    "table{border-collapse:collapse;margin:.4rem 0}th,td{border:1px solid #dde1e6;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}h1{margin-bottom:.2rem}section{margin:1.2rem 0}"
    ".pass{color:#13795b}.fail{color:#c0362c}.none{color:#6b7280}.badge{font-weight:600}"
    "figure{display:inline-block;margin:.4rem;max-width:30rem}figure img{max-width:100%;border:1px solid #dde1e6}"
    "pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;font-size:.85rem}nav a{margin-right:.8rem}"
)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _json(value: object) -> str:
    return _e(json.dumps(value, sort_keys=True, default=str))


def _status_class(name: object) -> str:
    return {"pass": "pass", "fail": "fail"}.get(str(name), "none")


# --------------------------------------------------------------------------- pictures


def picture_html(picture: dict[str, Any], params: ReportParameters, counter: dict[str, int]) -> str:
    from airgenome.components.files import read_bytes

    name, uri = str(picture.get("name") or "picture"), str(picture.get("uri") or "")
    media = str(picture.get("mediaType") or "image/png")
    caption = f"<figcaption>{_e(name)}{': ' + _e(picture.get('caption')) if picture.get('caption') else ''}</figcaption>"
    if params.embed_pictures and media in EMBEDDABLE:
        try:
            data = read_bytes(uri)
        except (OSError, ValueError) as error:
            return f"<figure><p class='none'>picture unavailable ({_e(type(error).__name__)}: {_e(uri)})</p>{caption}</figure>"
        if len(data) > params.max_picture_bytes:
            return f"<figure><p class='none'>picture too large to embed ({len(data)} bytes): {_e(uri)}</p>{caption}</figure>"
        counter["embedded"] += 1
        encoded = base64.b64encode(data).decode("ascii")
        return f"<figure><img alt='{_e(name)}' src='data:{_e(media)};base64,{encoded}'>{caption}</figure>"
    target = f"<a href='{_e(uri)}'>{_e(uri)}</a>" if uri.startswith(LINKABLE_SCHEMES) else _e(uri)
    return f"<figure><p>{target}</p>{caption}</figure>"


# --------------------------------------------------------------------------- sections


def evaluation_html(run: EvaluationRunRecord, source: str, params: ReportParameters, counter: dict[str, int]) -> str:
    from airgenome.evaluations.records import STATUS_NAMES

    status = STATUS_NAMES[run.status]
    parts = [
        f"<section class='evaluation' id='evaluation-{_e(run.id)}'><h3>{_e(run.name)} "
        f"<span class='badge {_status_class(status)}'>{_e(status)}</span></h3>",
        "<table>"
        f"<tr><th>id</th><td>{_e(run.id)}</td></tr><tr><th>found</th><td>{_e(source)}</td></tr>"
        f"<tr><th>created</th><td>{_e(run.created_at.isoformat())}</td></tr>"
        f"<tr><th>version</th><td>{_e(run.version_name)}</td></tr>"
        f"<tr><th>pipeline</th><td>{_e(run.pipeline_name)} / {_e(run.pipeline_run_id)} / {_e(run.pipeline_stage)}</td></tr>"
        "</table>",
    ]
    rows = []
    prototypes = 0
    for task in run.tasks:
        if task.kind == "prototype":
            prototypes += 1
            if prototypes > MAX_PROTOTYPES_SHOWN:
                continue
        expectations = "<br>".join(
            f"<span class='{_status_class('pass' if e.status == 1 else 'fail')}'>{_e(e.recipe)}</span>"
            + (f" — {_e(e.message)}" if e.message else "")
            for e in task.expectations
        )
        label = f"prototype {_e((task.prototype_ref or {}).get('ref'))} of " if task.kind == "prototype" else ""
        rows.append(
            f"<tr><td>{label}{_e(task.name)}</td><td class='{_status_class(STATUS_NAMES[task.status])}'>"
            f"{_e(STATUS_NAMES[task.status])}</td><td>{_e(task.segment) if task.segment is not None else ''}</td>"
            f"<td><code>{_json(task.metrics)}</code></td><td>{expectations}</td>"
            f"<td>{_e(task.error) if task.error else ''}</td></tr>"
        )
    parts.append("<table><tr><th>task</th><th>status</th><th>segment</th><th>metrics</th><th>expectations</th>"
                 f"<th>error</th></tr>{''.join(rows)}</table>")
    if prototypes > MAX_PROTOTYPES_SHOWN:
        parts.append(f"<p class='none'>{prototypes - MAX_PROTOTYPES_SHOWN} more prototypes not shown</p>")
    pictures = [picture for task in run.tasks for picture in task.pictures]
    if pictures:
        parts.append("<div class='pictures'>" + "".join(picture_html(p, params, counter) for p in pictures) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def blessing_html(record: ModelRecord, verdict_run: EvaluationRunRecord | None) -> str:
    from airgenome.components.bless.policy import TAG_AT, TAG_REASONS, TAG_VERDICT

    verdict = record.tags.get(TAG_VERDICT)
    css = "pass" if verdict == "BLESSED" else "fail" if verdict else "none"
    parts = [f"<section id='blessing'><h2>Blessing</h2><p class='badge {css}'>{_e(verdict or 'no verdict recorded')}</p>"]
    if record.tags.get(TAG_AT):
        parts.append(f"<p>recorded {_e(record.tags[TAG_AT])}</p>")
    if verdict_run is not None:
        rows = "".join(
            f"<tr><td>{_e(task.name)}</td><td class='{_status_class('pass' if task.status == 1 else 'fail')}'>"
            f"{'pass' if task.status == 1 else 'FAIL'}</td>"
            f"<td>{_e(task.expectations[0].expected if task.expectations else '')}</td>"
            f"<td>{_json(task.metrics.get('observed'))}</td><td>{_json(task.metrics.get('bound'))}</td>"
            f"<td>{_e(task.expectations[0].message if task.expectations else '')}</td></tr>"
            for task in verdict_run.tasks
        )
        parts.append(f"<p>verdict evaluation {_e(verdict_run.id)}</p><table><tr><th>rule</th><th>result</th>"
                     f"<th>rule says</th><th>observed</th><th>bound</th><th>detail</th></tr>{rows}</table>")
    elif record.tags.get(TAG_REASONS):
        parts.append(f"<pre>{_e(record.tags[TAG_REASONS])}</pre>")
    parts.append("</section>")
    return "".join(parts)


def lineage_html(ctx: ComponentContext, record: ModelRecord, runs: list[tuple[EvaluationRunRecord, str]],
                 verdict_run: EvaluationRunRecord | None) -> str:
    rows = [
        ("datasets", record.tags.get("airgenome.datasets", "[]")),
        ("model version", f"{record.id} (canonicalName {record.canonical_name})"),
        ("made by", f"pipeline {record.pipeline_name} run {record.pipeline_run_id} step "
                    f"{record.tags.get('airgenome.stepName')}"),
        ("artifacts", record.source),
    ]
    for run, source in runs:
        rows.append((f"evaluation {run.name}", f"{run.id} ({source}; pipeline {run.pipeline_name} run "
                                               f"{run.pipeline_run_id} step {run.pipeline_stage})"))
    if verdict_run is not None:
        rows.append(("blessing", f"{verdict_run.id} (pipeline {verdict_run.pipeline_name} run "
                                 f"{verdict_run.pipeline_run_id} step {verdict_run.pipeline_stage})"))
    for key in sorted(record.tags):
        if key.startswith("airgenome.deployment."):
            rows.append((key.removeprefix("airgenome."), record.tags[key]))
    rows.append(("this report", f"pipeline {ctx.step.pipeline_name} run {ctx.step.run_id} step {ctx.step.step_name}"))
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    wired = {name: ref.to_dict() for name, ref in sorted(ctx.inputs.items())}
    return (f"<section id='lineage'><h2>Lineage</h2><table>{table}</table>"
            f"<h3>Wired inputs (result manifests)</h3><pre>{_e(json.dumps(wired, indent=1, sort_keys=True, default=str))}</pre>"
            "</section>")


# --------------------------------------------------------------------------- the component


def collect_runs(ctx: ComponentContext, record: ModelRecord, evaluation_store: Any,
                 limit: int) -> tuple[list[tuple[EvaluationRunRecord, str]], EvaluationRunRecord | None]:
    """(evaluations with where they were found, the newest blessing verdict) for the version."""
    from airgenome.components.bless.policy import BLESSING_CODE, TAG_EVALUATION
    from airgenome.errors import NotFound

    runs: list[tuple[EvaluationRunRecord, str]] = []
    seen: set[str] = set()
    verdict: EvaluationRunRecord | None = None
    for port in REPORT_EVALUATION_INPUTS:
        ref = ctx.inputs.get(port)
        if ref is None:
            continue
        run_id = str(ref.metadata.get("id") or ref.uri.split(":/", 1)[-1].strip("/"))
        try:
            runs.append((evaluation_store.get(run_id), f"input {port}"))
            seen.add(run_id)
        except NotFound:
            continue
    verdict_id = record.tags.get(TAG_EVALUATION)
    for summary in evaluation_store.search(model_id=record.id, limit=min(500, limit + 20)).items:
        if summary.id in seen:
            continue
        run = evaluation_store.get(summary.id)
        if run.code == BLESSING_CODE:
            if verdict is None and (verdict_id is None or run.id == verdict_id):
                verdict = run
            continue
        if len(runs) < limit:
            runs.append((run, "evaluation store"))
    if verdict is None and verdict_id:
        try:
            verdict = evaluation_store.get(verdict_id)
        except NotFound:
            verdict = None
    return runs, verdict


def render_report(ctx: ComponentContext, store: Any, record: ModelRecord, evaluation_store: Any,
                  params: ReportParameters) -> tuple[str, dict[str, int]]:
    from airgenome.models.cards import CardEvaluations, render_card_html

    runs, verdict = collect_runs(ctx, record, evaluation_store, params.max_evaluations)
    summaries = [run.summary().to_dict() for run, _ in runs]
    card = store.card(record, evaluations=CardEvaluations(available=True, total=len(summaries), runs=summaries))
    counter = {"embedded": 0}
    explanations = [(run, source) for run, source in runs if "explan" in run.name.lower()]
    others = [(run, source) for run, source in runs if "explan" not in run.name.lower()]
    title = params.title or f"Model report: {record.canonical_name} v{record.version}"
    deployment = ctx.inputs.get("deployment")
    body = [
        f"<header><h1>{_e(title)}</h1><p>{_e(record.id)} · generated {_e(datetime.now(UTC).isoformat())}</p>"
        "<nav><a href='#model-card'>model card</a><a href='#blessing'>blessing</a><a href='#explanations'>"
        "explanations</a><a href='#evaluations'>evaluations</a><a href='#lineage'>lineage</a></nav></header>",
        render_card_html(card, root="#"),
        blessing_html(record, verdict),
    ]
    explained = card.explanations
    parts = ["<section id='explanations'><h2>Explanations</h2>"]
    if explained.available:
        rows = "".join(f"<tr><td>{_e(f.get('feature'))}</td><td>{_e(f.get('meanAbsShap'))}</td></tr>"
                       for f in explained.top_features)
        parts.append(f"<h3>Global ({_e(explained.explainer)})</h3><table><tr><th>feature</th><th>mean |SHAP|</th></tr>{rows}</table>")
    parts.extend(evaluation_html(run, source, params, counter) for run, source in explanations)
    if not explained.available and not explanations:
        parts.append("<p class='none'>no explanations recorded for this version</p>")
    parts.append("</section>")
    body.append("".join(parts))
    body.append(f"<section id='evaluations'><h2>Evaluations ({len(others)})</h2>"
                + ("".join(evaluation_html(run, source, params, counter) for run, source in others)
                   or "<p class='none'>no evaluations recorded for this version</p>") + "</section>")
    if deployment is not None:
        body.append(f"<section id='deployment'><h2>Deployment</h2><pre>{_e(json.dumps(deployment.to_dict(), indent=1, sort_keys=True, default=str))}</pre></section>")
    body.append(lineage_html(ctx, record, runs, verdict))
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return document, {"evaluations": len(runs), "pictures": counter["embedded"]}


def run(ctx: ComponentContext, params: ReportParameters) -> Result:
    from airgenome.components.files import write_bytes
    from airgenome.evaluations.store import get_evaluation_store

    store, record = load_version(ctx)
    evaluations = get_evaluation_store(ctx.stores.evaluation_store_uri)
    if params.require_blessed:
        require_blessed(ctx, record, evaluations)
    html, counts = render_report(ctx, store, record, evaluations, params)
    uri = ctx.output("report", params.filename)
    facts = write_bytes(uri, html.encode("utf-8"))
    print(f"report of {record.id}: {counts['evaluations']} evaluations, {counts['pictures']} pictures -> {uri}")
    result = Result(model_version=record.id, metrics=dict(counts))
    result.add_output("report", uri, "report", version=record.id, mediaType="text/html", **counts, **facts)
    return result
