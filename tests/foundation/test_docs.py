"""The docs a newcomer reads stay short, linked and current.

- README.md stays an entry page (at most 160 lines); the reference lives in docs/.
- Every relative link in README.md and docs/*.md points to a file that exists, and every
  ``#anchor`` to a heading of that file (GitHub's heading slugs).
- docs/configuration.md's options table is generated from ``airgenome.settings.OPTIONS``;
  regenerate it with ``.venv/bin/python -m tests.foundation.test_docs``.
- Every ``AIRGENOME_*`` variable the code reads is documented in docs/ (the settings in
  docs/configuration.md, a component's step variables beside the components).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
CODE_FOLDERS = ("include", "operators", "hooks", "plugins", "dags")
README_MAX_LINES = 160
BEGIN = "<!-- BEGIN generated from airgenome.settings.OPTIONS: python -m tests.foundation.test_docs -->"
END = "<!-- END generated -->"

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_VARIABLE = re.compile(r"\bAIRGENOME_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (links in code are not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))  # nor are links inside inline code
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _headings(page):
        slug = _slug(line)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def _headings(page: Path) -> list[str]:
    headings, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            headings.append(match.group(1))
    return headings


def _links(page: Path) -> list[str]:
    return [target for line in _prose(page.read_text(encoding="utf-8")) for target in _LINK.findall(line)]


def test_readme_is_an_entry_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move reference to docs/")
    text = "\n".join(lines)
    for command in ("make demo", "make test"):  # the two commands; .ci/run calls `make test`
        assert command in text


def test_docs_index_links_every_page() -> None:
    index = DOCS / "index.md"
    linked = {Path(target.split("#", 1)[0]).name for target in _links(index)}
    missing = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p.name not in linked)
    assert not missing, f"docs/index.md does not link: {', '.join(missing)}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_headings(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination}")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(broken)


# ---------------------------------------------------------------- the configuration page
def _cell(text: str) -> str:
    """Table-safe text: pipes escaped and, outside code spans, ``<home>`` kept visible."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def render_options_table() -> str:
    """The options table of docs/configuration.md, from the declarations themselves."""
    from airgenome.settings import OPTIONS

    rows = [
        "| `[airgenome]` option | variable | type | default | meaning | example |",
        "|---|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        kind = option.kind
        if option.choices:
            kind = " \\| ".join(f"`{choice}`" for choice in option.choices)
        elif option.minimum is not None:
            kind = f"{kind} ≥ {option.minimum:g}"
        if option.default_text is not None:
            default = _cell(option.default_text)
        elif option.default in (None, ""):
            default = "(empty)"
        else:
            default = f"`{_cell(option.default)}`"
        meaning = option.description
        if option.secret_key:
            meaning += f" Secret key: `{option.secret_key}`."
        rows.append(
            f"| `{option.name}` | `{option.variable}` | {kind} | {default} | {_cell(meaning)} "
            f"| `{_cell(option.example)}` |"
        )
    return "\n".join([BEGIN, *rows, END])


def _generated_part(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    assert start >= 0 and end > start, f"{CONFIGURATION.name} lost its generated markers"
    return text[start : end + len(END)]


def test_configuration_page_matches_the_settings_module() -> None:
    assert _generated_part(CONFIGURATION.read_text(encoding="utf-8")) == render_options_table(), (
        "docs/configuration.md is stale: regenerate with .venv/bin/python -m tests.foundation.test_docs")


def test_every_variable_the_code_reads_is_documented() -> None:
    page = "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))
    used: dict[str, str] = {}
    for folder in CODE_FOLDERS:
        for source in sorted((ROOT / folder).rglob("*.py")):
            for variable in _VARIABLE.findall(source.read_text(encoding="utf-8")):
                used.setdefault(variable, str(source.relative_to(ROOT)))
    missing = sorted(f"{variable} ({where})" for variable, where in used.items() if variable not in page)
    assert not missing, "not in docs/ (settings: docs/configuration.md): " + ", ".join(missing)


def write_configuration() -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    CONFIGURATION.write_text(text.replace(_generated_part(text), render_options_table()), encoding="utf-8")


if __name__ == "__main__":
    write_configuration()
    print(f"wrote {CONFIGURATION.relative_to(ROOT)}", file=sys.stderr)
