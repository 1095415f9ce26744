"""Server-rendered pages: one shared layout; every dynamic value goes through `esc`."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#017cee;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1rem 1.4rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #dde1e6;padding:.35rem .6rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#eef1f5}
.pass{color:#13795b;font-weight:600}.fail{color:#c0362c;font-weight:600}.none{color:#6b7280}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.error{background:#fdecea;border:1px solid #f5c2c0;color:#8a1f17;padding:.6rem;border-radius:4px;white-space:pre-wrap}
code,pre{background:#eef1f5;padding:.1rem .3rem;border-radius:3px}
textarea{width:100%;font-family:monospace}
button{background:#017cee;color:#fff;border:0;border-radius:4px;padding:.4rem .9rem;cursor:pointer}
"""

NAV = (
    ("Home", ""),
    ("Models", "/models"),
    ("Evaluations", "/evaluations"),
    ("Sequences", "/sequences"),
    ("Components", "/components"),
)


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def page(title: str, body: str, root: str) -> HTMLResponse:
    """`root` is the mount prefix (request.scope['root_path']), so links work anywhere."""
    links = "".join(f'<a href="{esc(root)}{path}">{name}</a>' for name, path in NAV)
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)} · airgenome</title>"
        f"<style>{STYLE}</style></head><body><header><strong>airgenome</strong>{links}</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html)
