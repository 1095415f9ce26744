"""Helpers for the sequencer tests: Genome's README payloads and spec builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "genome_payloads"


def genome_payload(name: str) -> bytes:
    """Genome's README sequencer payloads, byte for byte (sequential, parallel, scheduled)."""
    return (PAYLOADS / f"{name}.json").read_bytes()


def spec(steps: list[Any], **top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"pipelineName": "p", "application": "app", "steps": steps}
    document.update(top)
    return document


def echo(name: str, **extra: Any) -> dict[str, Any]:
    return {"stepName": name, "component": "genome.echo", **extra}



def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
