"""The landing page: what the plugin serves and where."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.plugins.deps import CurrentUser
from airgenome.plugins.pages.layout import esc, page

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    body = (
        f"<p>Signed in as <strong>{esc(user.get_name())}</strong>.</p>"
        "<div class='card'><ul>"
        f"<li><a href='{esc(root)}/models'>Models</a>: the model store, cards and explanations</li>"
        f"<li><a href='{esc(root)}/evaluations'>Evaluations</a>: evaluation runs, tasks, prototypes</li>"
        f"<li><a href='{esc(root)}/sequences'>Sequences</a>: upload Genome JSON sequences as DAGs</li>"
        f"<li><a href='{esc(root)}/components'>Components</a>: the steps a sequence or an operator can run</li>"
        f"<li><a href='{esc(root)}/docs'>API docs</a></li></ul></div>"
    )
    return page("airgenome", body, root)
