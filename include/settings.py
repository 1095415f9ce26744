"""Where things live, read from the environment only (cheap, no Airflow import).

Every value can be overridden by an ``AIRGENOME_*`` variable; inside Airflow the same
values may come from the ``[airgenome]`` config section, which Airflow exposes to
processes as ``AIRFLOW__AIRGENOME__*`` variables — both spellings are honoured here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The source checkout (for an editable install) — used to find the shipped DAG bundle.
PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


def _env(name: str, default: str | None = None) -> str | None:
    """Read AIRGENOME_<NAME>, then AIRFLOW__AIRGENOME__<NAME>."""
    for key in (f"AIRGENOME_{name}", f"AIRFLOW__AIRGENOME__{name}"):
        value = os.environ.get(key)
        if value:
            return value
    return default


def airgenome_home() -> Path:
    """The embedded home: Airflow metadata, stores, uploads, logs (never the source tree)."""
    return Path(_env("HOME") or Path.cwd() / ".airgenome").expanduser().resolve()


def dags_folder() -> Path:
    """The DAG bundle Airflow parses: the repo's ``dags/`` unless overridden."""
    configured = _env("DAGS_FOLDER")
    return Path(configured).resolve() if configured else REPO_ROOT / "dags"


@dataclass(frozen=True)
class StoreLocations:
    """Where steps, SDKs and the plugin find the model store and the evaluation store."""

    model_store_uri: str
    model_artifacts: str
    evaluation_store_uri: str

    @classmethod
    def under(cls, folder: Path) -> StoreLocations:
        """The embedded layout: both SQLite stores and the artifacts in one folder."""
        return cls(
            model_store_uri=f"sqlite:///{folder / 'mlflow.db'}",
            model_artifacts=str(folder / "artifacts"),
            evaluation_store_uri=f"sqlite:///{folder / 'evaluations.db'}",
        )

    def as_env(self) -> dict[str, str]:
        return {
            "AIRGENOME_MODEL_STORE_URI": self.model_store_uri,
            "AIRGENOME_MODEL_ARTIFACTS": self.model_artifacts,
            "AIRGENOME_EVALUATION_STORE_URI": self.evaluation_store_uri,
        }


def store_locations(home: Path | None = None) -> StoreLocations:
    """The embedded defaults under ``<home>/stores``, each overridable by its variable."""
    default = StoreLocations.under((home or airgenome_home()) / "stores")
    return StoreLocations(
        model_store_uri=_env("MODEL_STORE_URI") or default.model_store_uri,
        model_artifacts=_env("MODEL_ARTIFACTS") or default.model_artifacts,
        evaluation_store_uri=_env("EVALUATION_STORE_URI") or default.evaluation_store_uri,
    )


def uploads_folder(home: Path | None = None) -> Path:
    """Sequences uploaded through the API/page; the loader reads them beside ``dags/sequences``."""
    configured = _env("UPLOADS_FOLDER")
    return Path(configured).resolve() if configured else (home or airgenome_home()) / "uploads"
