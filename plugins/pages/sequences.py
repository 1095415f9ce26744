"""The sequences page: upload or paste a Genome JSON sequence, validate, save, save and run.

Server-rendered (every dynamic value through `esc`); a little vanilla JS posts the text
to the sequences API with fetch(), which sends the Origin header the cookie guard needs,
and renders answers with textContent only (never innerHTML of server data).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.plugins.deps import CanReadDags
from airgenome.plugins.pages.layout import esc, page
from airgenome.plugins.routers.sequences import (
    RunSummary,
    SequenceSummary,
    list_sequences,
    sequence_detail,
)
from airgenome.sequence.uploads import UploadStore

router = APIRouter(tags=["pages"], include_in_schema=False)

SCRIPT = """
<script>
(function () {
  const form = document.getElementById('sequence-form');
  const api = form.dataset.api;
  const text = document.getElementById('sequence-text');
  const out = document.getElementById('sequence-result');
  document.getElementById('sequence-file').addEventListener('change', function (event) {
    const file = event.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = function () { text.value = reader.result; };
    reader.readAsText(file);
  });
  function line(parent, tag, content, cls) {
    const node = document.createElement(tag);
    node.textContent = content;
    if (cls) node.className = cls;
    parent.appendChild(node);
    return node;
  }
  function link(parent, label, href) {
    const a = document.createElement('a');
    a.textContent = label;
    a.href = href;
    parent.appendChild(a);
    parent.appendChild(document.createTextNode(' '));
  }
  async function send(action) {
    out.replaceChildren();
    out.className = 'card';
    line(out, 'p', action === 'validate' ? 'Validating…' : 'Saving…');
    const url = api + (action === 'save' ? '' : '/' + action);
    let response, body;
    try {
      response = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
        body: text.value,
      });
      body = await response.json().catch(function () { return {detail: response.statusText}; });
    } catch (error) {
      out.replaceChildren();
      out.className = 'error';
      line(out, 'p', 'Request failed: ' + error);
      return;
    }
    out.replaceChildren();
    if (!response.ok) {
      out.className = 'error';
      out.dataset.status = String(response.status);
      line(out, 'strong', 'HTTP ' + response.status + ': ' + (body.detail || ''));
      const errors = body.errors || [];
      if (errors.length) {
        const list = line(out, 'ul', '');
        list.className = 'field-errors';
        errors.forEach(function (item) {
          const li = line(list, 'li', '');
          line(li, 'code', item.loc || '');
          li.appendChild(document.createTextNode(' ' + (item.msg || '')));
        });
      }
      return;
    }
    out.className = 'card ok';
    out.dataset.status = String(response.status);
    if (action === 'validate') {
      line(out, 'p', 'Valid: DAG ' + body.dag_id + ' with tasks ' + (body.tasks || []).join(', '));
      return;
    }
    line(out, 'p', (body.replaced ? 'Replaced ' : 'Saved ') + body.file + ' as DAG ' + body.dag_id
      + (body.visible ? ' (visible in Airflow).' : '.'));
    if (body.warning) line(out, 'p', body.warning, 'none');
    const links = line(out, 'p', '');
    link(links, 'Open the DAG in Airflow', body.dag_url);
    link(links, 'Sequence details', form.dataset.pages + '/' + encodeURIComponent(body.dag_id));
    if (body.run_id) {
      line(out, 'p', 'Triggered run ' + body.run_id + ' (' + (body.run_state || 'queued') + ')');
      link(links, 'Open the run', body.run_url);
    }
  }
  form.querySelectorAll('button[data-action]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      event.preventDefault();
      send(button.dataset.action);
    });
  });
})();
</script>
"""


def _state(state: str | None) -> str:
    cls = {"success": "pass", "failed": "fail"}.get(state or "", "none")
    return f"<span class='{cls}'>{esc(state or 'none')}</span>"


def _run_cell(run: RunSummary | None) -> str:
    if run is None:
        return "<span class='none'>no runs</span>"
    return f"{_state(run.state)} <code>{esc(run.run_id)}</code>"


def _table(root: str, items: list[SequenceSummary]) -> str:
    if not items:
        return "<p class='none'>No sequences yet: upload one above.</p>"
    rows = "".join(
        "<tr>"
        f"<td><a href='{esc(root)}/sequences/{esc(item.dag_id)}'>{esc(item.dag_id)}</a></td>"
        f"<td>{esc(item.origin)}</td>"
        f"<td>{esc(item.updated_at.strftime('%Y-%m-%d %H:%M:%S UTC'))}</td>"
        f"<td>{_run_cell(item.latest_run)}</td>"
        f"<td><a href='{esc(item.dag_url)}'>DAG</a></td>"
        "</tr>"
        for item in items
    )
    return (
        "<table id='sequences'><tr><th>DAG id</th><th>origin</th><th>updated</th>"
        f"<th>latest run</th><th>Airflow</th></tr>{rows}</table>"
    )


def _editor(root: str, initial: str) -> str:
    return (
        f"<form id='sequence-form' class='card' data-api='{esc(root)}/api/v1/sequences' "
        f"data-pages='{esc(root)}/sequences'>"
        "<p><label>Upload a JSON file: <input type='file' id='sequence-file' "
        "accept='.json,application/json'></label> or paste it below.</p>"
        "<textarea id='sequence-text' name='sequence' rows='18' spellcheck='false' "
        f"placeholder='{{\"pipelineName\": \"pipe-1\", \"application\": \"search\", \"steps\": [...]}}'>"
        f"{esc(initial)}</textarea>"
        "<p><button type='button' data-action='validate'>Validate</button> "
        "<button type='button' data-action='save'>Save</button> "
        "<button type='button' data-action='run'>Save and run</button></p>"
        "</form><div id='sequence-result' aria-live='polite'></div>"
    )


@router.get("/sequences", response_class=HTMLResponse, dependencies=[CanReadDags])
def sequences_page(request: Request, edit: str | None = None) -> HTMLResponse:
    root = str(request.scope.get("root_path", ""))
    initial = ""
    if edit:
        initial = UploadStore().get(edit).read_bytes().decode("utf-8", errors="replace")
    listing = list_sequences(request)
    warning = (
        f"<p class='error'>Run states unavailable: {esc(listing.airflow_error)}</p>"
        if listing.airflow_error
        else ""
    )
    body = (
        "<p>Upload a Genome sequence (JSON). A valid one becomes an Airflow DAG at once; "
        "<em>Save and run</em> also triggers it.</p>"
        f"{_editor(root, initial)}<h2>Sequences</h2>{warning}{_table(root, listing.sequences)}"
        f"{SCRIPT}"
    )
    return page("Sequences", body, root)


@router.get("/sequences/{dag_id}", response_class=HTMLResponse, dependencies=[CanReadDags])
def sequence_page(request: Request, dag_id: str) -> HTMLResponse:
    root = str(request.scope.get("root_path", ""))
    detail = sequence_detail(request, dag_id)
    if detail.dag is None:
        dag_line = "<p class='none'>Airflow has not parsed this DAG yet.</p>"
    else:
        paused = "paused" if detail.dag.is_paused else "active"
        dag_line = (
            f"<p>DAG <a id='dag-link' href='{esc(detail.dag_url)}'>{esc(detail.dag_id)}</a> "
            f"({esc(paused)}, schedule {esc(detail.dag.timetable_summary or 'none')})</p>"
        )
    if detail.airflow_error:
        dag_line += f"<p class='error'>{esc(detail.airflow_error)}</p>"
    rows = "".join(
        f"<tr><td><code>{esc(run.run_id)}</code></td><td>{_state(run.state)}</td>"
        f"<td>{esc(run.run_type or '')}</td><td>{esc(run.start_date or '')}</td>"
        f"<td>{esc(run.end_date or '')}</td></tr>"
        for run in detail.runs
    )
    runs = (
        "<table id='runs'><tr><th>run</th><th>state</th><th>type</th><th>started</th>"
        f"<th>ended</th></tr>{rows}</table>"
        if rows
        else "<p class='none'>No runs yet.</p>"
    )
    edit = (
        f"<a href='{esc(root)}/sequences?edit={esc(detail.dag_id)}'>Edit a copy in the uploader</a>"
        if detail.origin == "upload"
        else "<span class='none'>Shipped in the DAG bundle (read-only here).</span>"
    )
    body = (
        f"<div class='card'>{dag_line}<p>File <code>{esc(detail.file)}</code> "
        f"({esc(detail.origin)}), {edit}</p></div>"
        f"<h2>Recent runs</h2>{runs}<h2>Source</h2><pre id='source'>{esc(detail.source)}</pre>"
    )
    return page(f"Sequence {detail.dag_id}", body, root)
