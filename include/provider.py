"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

The ``[airgenome]`` config section is generated from `airgenome.settings.OPTIONS`, so
Airflow's config listing shows exactly the settings the code reads.
"""

from __future__ import annotations

from typing import Any

from airgenome import __version__
from airgenome.settings import OPTIONS, Option

VERSION_ADDED = "0.1.0"
# Airflow's provider config knows string, integer, float and boolean.
_CONFIG_TYPES = {"integer": "integer", "float": "float"}


def _escaped(default: str | None) -> str | None:
    return None if default is None else default.replace("{", "{{").replace("}", "}}")


def config_option(option: Option) -> dict[str, Any]:
    """One option as Airflow's provider config schema wants it."""
    description = option.description
    if option.choices:
        description += f" One of: {', '.join(option.choices)}."
    if option.default is None and option.default_text:
        description += f" Default: {option.default_text}."
    description += f" Also read from {option.variable}."
    entry: dict[str, Any] = {
        "description": description,
        "version_added": VERSION_ADDED,
        "type": _CONFIG_TYPES.get(option.kind, "string"),
        "example": option.example,
        # Airflow expands defaults with str.format ({AIRFLOW_HOME}): JSON braces are doubled.
        "default": _escaped(option.default),
    }
    if option.sensitive:
        entry["sensitive"] = True
    return entry


def config_section() -> dict[str, Any]:
    return {
        "description": "airgenome settings (each also readable as an AIRGENOME_<NAME> variable).",
        "options": {option.name: config_option(option) for option in OPTIONS},
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airgenome",
        "name": "airgenome",
        "description": "Trusted-AI pipelines: CLAIMED components, Genome sequencer, stores, explanations.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "airgenome_model_store",
                "hook-class-name": "airgenome.hooks.model_store.ModelStoreHook",
            },
            {
                "connection-type": "airgenome_evaluation_store",
                "hook-class-name": "airgenome.hooks.evaluation_store.EvaluationStoreHook",
            },
        ],
        "config": {"airgenome": config_section()},
    }
