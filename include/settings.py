"""Every airgenome setting, declared once and read through one typed accessor.

`OPTIONS` declares each setting (name, type, default, description, example). A value is read
from ``AIRGENOME_<NAME>``, then ``AIRFLOW__AIRGENOME__<NAME>``, then the ``[airgenome]``
section of Airflow's config — the last only when ``airflow.configuration`` is already
imported (inside the DAG processor, a worker, the API server): reading a setting never
imports Airflow. An empty value counts as unset. A malformed value raises `SettingError`
naming the variable; reading a name that is not declared raises `UnknownSetting`, so the
declarations and the reads cannot drift apart (tests/foundation/test_settings.py checks
both directions). The provider's ``[airgenome]`` config section is generated from `OPTIONS`
(`airgenome.provider`).

Cheap: no I/O beyond ``os.environ`` and the already-loaded config. Nothing here imports
Airflow.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from airgenome.errors import InvalidInput

# The source checkout (for an editable install) — used to find the shipped DAG bundle.
PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent

Kind = Literal["string", "integer", "float", "list", "json", "path", "choice"]
MODES = ("local", "kubernetes")
DEFAULT_GPU_POOL = "gpu"
DEFAULT_NAMESPACE = "airgenome"
DEFAULT_STORE_SECRET = "airgenome-stores"
GPU_TOLERATIONS_DEFAULT = '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]'
EXPLAIN_PRELOAD_DEFAULT = (
    "mlflow.sklearn,mlflow.xgboost,sklearn.ensemble,shap,xgboost,lime.lime_text,tensorflow,keras,"
    "mlflow.tensorflow"
)

# What a task process of a sequence DAG imports: the loader and renderer, the category
# operators, the component registry, and what the approval and publish steps record with.
TASK_PRELOAD_DEFAULT = (
    "airgenome.build.loader,airgenome.build.render,airgenome.operators.categories,"
    "airgenome.components.catalogue,airgenome.sequence.approval,airgenome.models.client,"
    "airgenome.models.mlflow_backend,mlflow.tracking,airgenome.evaluations.store,airgenome.evaluations.sdk"
)


class SettingError(InvalidInput):
    """A setting's value is malformed; the message starts with the variable's name."""


class UnknownSetting(KeyError):
    """Code asked for a setting that `OPTIONS` does not declare (a programming error)."""


@dataclass(frozen=True)
class Option:
    """One ``[airgenome]`` setting.

    ``default`` is the value as it would be written in airflow.cfg (``None``: computed at
    read time, described by ``default_text``). ``secret_key`` marks a value that may carry a
    credential: step pods get it from that key of the Kubernetes Secret named by
    ``store_secret_name``, never as a literal.
    """

    name: str
    kind: Kind
    description: str
    example: str
    default: str | None = None
    default_text: str | None = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    secret_key: str | None = None
    optional_secret: bool = False

    @property
    def variable(self) -> str:
        return f"AIRGENOME_{self.name.upper()}"

    @property
    def variables(self) -> tuple[str, str]:
        return (self.variable, f"AIRFLOW__AIRGENOME__{self.name.upper()}")

    @property
    def sensitive(self) -> bool:
        return self.secret_key is not None


OPTIONS: tuple[Option, ...] = (
    # -- where things live ---------------------------------------------------------------
    Option("home", "path", "Embedded home: stores, uploads, the lake and Airflow metadata.",
           "/opt/airflow/airgenome", default_text="./.airgenome (the working directory)"),
    Option("dags_folder", "path", "The DAG bundle to parse (the sequence loader and sequences/).",
           "/opt/airflow/dags", default_text="the checkout's dags/"),
    Option("components_folder", "path",
           "Descriptor files (*.json) that turn container images into components.",
           "/opt/airflow/dags/components", default_text="<dags_folder>/components"),
    Option("uploads_folder", "path", "Where uploaded sequences are written (never the source tree).",
           "/opt/airflow/airgenome/uploads", default_text="<home>/uploads"),
    Option("model_store_uri", "string",
           "MLflow tracking store (sqlite:///..., postgresql://..., http://mlflow:5000). Step pods "
           "get it from the store secret.",
           "postgresql://mlflow:PASSWORD@postgres:5432/mlflow",
           default_text="sqlite:///<home>/stores/mlflow.db", secret_key="model-store-uri"),
    Option("model_registry_uri", "string",
           "MLflow model registry, when it differs from the tracking store.",
           "postgresql://mlflow:PASSWORD@postgres:5432/registry",
           default_text="the tracking store", secret_key="model-registry-uri", optional_secret=True),
    Option("model_artifacts", "string", "Where model files go (a folder or s3://...).",
           "s3://airgenome-models/artifacts", default_text="<home>/stores/artifacts"),
    Option("evaluation_store_uri", "string",
           "Evaluation store database (SQLAlchemy URL). Step pods get it from the store secret.",
           "postgresql://genome:PASSWORD@postgres:5432/evaluations",
           default_text="sqlite:///<home>/stores/evaluations.db", secret_key="evaluation-store-uri"),
    Option("lake_root", "string", "Root of the data lake steps exchange data through (ObjectStoragePath).",
           "s3://airgenome-lake/lake", default_text="file://<home>/lake"),
    # -- how steps run -------------------------------------------------------------------
    Option("execution_mode", "choice", "How sequence steps run: local (subprocess) or kubernetes (pod).",
           "kubernetes", default="local", choices=MODES),
    Option("warm_runtime_socket", "path",
           "Unix socket of a warm component runtime (python -m airgenome.components.warm) that "
           "forks each local component step from preloaded libraries instead of starting a "
           "fresh Python. Empty, or not answering: a fresh process per step.",
           "/opt/airflow/airgenome/run/warm-runtime.sock",
           default_text="none (the embedded stack starts one at <home>/run/warm-runtime.sock)"),
    Option("task_preload", "list",
           "Modules the scheduler imports before it forks its LocalExecutor workers, so every "
           "task process starts with them loaded (the sequence loader, the operators, the "
           "registry, the stores); `none` for none.",
           "airgenome.build.loader,airgenome.operators.categories", default=TASK_PRELOAD_DEFAULT),
    Option("allowed_images", "list",
           "Comma-separated image patterns (fnmatch) step pods may use. Empty: every image is "
           "refused in kubernetes mode (not used in local mode).",
           "ghcr.io/airgenome/*,registry.local/genome/*", default=""),
    Option("k8s_namespace", "string", "Namespace step pods run in.", "airgenome",
           default=DEFAULT_NAMESPACE),
    Option("store_secret_name", "string",
           "Kubernetes Secret whose keys model-store-uri, evaluation-store-uri (and optionally "
           "model-registry-uri) reach step pods as secret references.",
           "airgenome-stores", default=DEFAULT_STORE_SECRET),
    Option("connections_secret_name", "string",
           "Kubernetes Secret whose keys (Airflow connection ids) hold the SQLAlchemy URLs step pods get "
           "for connection parameters (input.table's conn_id).", "airgenome-connections",
           default="airgenome-connections"),
    Option("secret_env_from", "list",
           "Comma-separated Kubernetes Secrets whose keys all become environment variables of "
           "step pods (envFrom), e.g. object-store credentials for the lake.",
           "airgenome-lake-credentials", default=""),
    Option("gpu_pool", "string", "Airflow pool GPU steps take slots from (one slot per GPU).", "gpu",
           default=DEFAULT_GPU_POOL),
    Option("gpu_slots", "integer",
           "GPUs the GPU pool grants (its slots); a step asking for more is refused. Embedded: "
           "`airgenome up` sizes the pool to this, else to the GPUs nvidia-smi sees.",
           "4", default_text="0 when validating; the visible GPUs for `airgenome up`", minimum=0),
    Option("gpu_tolerations", "json", "JSON list of tolerations added to GPU step pods.",
           GPU_TOLERATIONS_DEFAULT, default=GPU_TOLERATIONS_DEFAULT),
    Option("gpu_node_selector", "json", "JSON object of node labels GPU step pods select.",
           '{"nvidia.com/gpu.present": "true"}', default="{}"),
    # -- sequencer limits ----------------------------------------------------------------
    Option("max_sequence_bytes", "integer", "Largest sequence document accepted (bytes).", "262144",
           default=str(256 * 1024), minimum=1),
    Option("max_steps", "integer", "Most steps in one sequence.", "200", default="200", minimum=1),
    Option("max_group_width", "integer", "Most members of one parallel group.", "32", default="32",
           minimum=1),
    Option("max_step_name_length", "integer", "Longest step name.", "100", default="100", minimum=1),
    Option("max_retries", "integer", "Most retries a step may ask for.", "10", default="10", minimum=0),
    # -- the plugin's sequence API ----------------------------------------------------------
    Option("sequence_save_wait_s", "float", "Seconds a sequence save waits for its DAG to become visible.",
           "10", default="10", minimum=0),
    Option("sequence_run_wait_s", "float",
           "Seconds a run upload waits for its DAG before a 503 (the file is kept).", "60", default="60",
           minimum=0),
    Option("airflow_api_url", "string", "Airflow's REST API as the plugin reaches it.",
           "http://airflow-api-server:8080", default_text="the socket the request arrived on"),
    # -- explanations ----------------------------------------------------------------------
    Option("explain_workers", "integer", "Worker threads computing explanations.", "3",
           default_text="min(4, CPUs - 1), at least 1", minimum=1),
    Option("explain_queue", "integer", "Explanation requests that may wait for a worker.", "32",
           default="32", minimum=0),
    Option("explain_timeout_s", "float", "Seconds one explanation may take before a 503.", "30",
           default_text="the explainer's built-in limit", minimum=0.001),
    Option("explain_cache_size", "integer", "Models kept loaded for explanations.", "8", default="8",
           minimum=1),
    Option("explain_resolve_ttl_s", "float",
           "Seconds a resolved `latest` or alias is trusted before asking the store again.", "2",
           default="2", minimum=0),
    Option("explain_api_server_share", "float",
           "Inside Airflow's API server: the share of its event loop's time explanation requests "
           "may keep it busy; beyond it they wait their turn (first come, first served, at most "
           "2 s) so Airflow's own API stays responsive. `1`: no limit.", "0.25", default="0.25",
           minimum=0.05),
    Option("explainer_nice", "integer",
           "Standalone explainer: the nice value it runs at (0-19). On a machine it shares with "
           "Airflow, explanations yield the CPU to Airflow's API server and scheduler when both "
           "want it; alone on its machine it changes nothing. `0`: the same priority.",
           "5", default="5", minimum=0),
    Option("explain_token_revocation_ttl_s", "float",
           "Standalone explainer: seconds its snapshot of Airflow's revoked tokens (logouts) is "
           "trusted; a token revoked at T is refused from T + this on. `0` asks Airflow's "
           "metadata DB on every request, as the API server does.", "2", default="2", minimum=0),
    Option("explain_preload", "list",
           "Modules imported in the background when the API server starts; `none` for none.",
           "shap,sklearn.ensemble", default=EXPLAIN_PRELOAD_DEFAULT),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The declaration of ``name``; `UnknownSetting` for anything undeclared."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownSetting(f"{name!r} is not a declared airgenome setting (airgenome.settings.OPTIONS)") from None


# ---------------------------------------------------------------- the one accessor
def raw(name: str) -> str | None:
    """The configured text of a declared setting, or ``None`` when unset (no default applied)."""
    declared = option(name)
    for key in declared.variables:
        value = os.environ.get(key)
        if value:
            return value
    if "airflow.configuration" in sys.modules:  # never import Airflow just to read a setting
        from airflow.configuration import conf

        configured = conf.get("airgenome", declared.name, fallback=None)
        return str(configured) if configured else None
    return None


def _text(name: str, kind: Kind) -> tuple[Option, str | None]:
    declared = option(name)
    if declared.kind != kind:
        raise TypeError(f"setting {name!r} is declared as {declared.kind}, not read as {kind}")
    value = raw(name)
    return declared, (value if value is not None else declared.default)


def _malformed(declared: Option, text: str, what: str) -> SettingError:
    bound = f" >= {declared.minimum:g}" if declared.minimum is not None else ""
    return SettingError(f"{declared.variable}: {text!r} is not {what}{bound}")


def string(name: str) -> str | None:
    return _text(name, "string")[1]


def path(name: str) -> Path | None:
    text = _text(name, "path")[1]
    return Path(text).expanduser().resolve() if text else None


def integer(name: str) -> int | None:
    declared, text = _text(name, "integer")
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise _malformed(declared, text, "a whole number") from None
    if declared.minimum is not None and value < declared.minimum:
        raise _malformed(declared, text, "a whole number")
    return value


def number(name: str) -> float | None:
    declared, text = _text(name, "float")
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        raise _malformed(declared, text, "a number") from None
    if declared.minimum is not None and value < declared.minimum:
        raise _malformed(declared, text, "a number")
    return value


def string_list(name: str) -> tuple[str, ...]:
    text = _text(name, "list")[1]
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def unless_none(values: tuple[str, ...]) -> list[str]:
    """A list setting that can be switched off: ``none``, ``0`` or ``false`` alone mean empty
    (an empty value means the default, so "nothing" needs a word of its own)."""
    return [] if [value.lower() for value in values] in ([], ["none"], ["0"], ["false"]) else list(values)


def json_value(name: str) -> Any:
    declared, text = _text(name, "json")
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingError(f"{declared.variable}: not valid JSON ({exc.msg})") from exc


def choice(name: str) -> str:
    declared, text = _text(name, "choice")
    value = (text or "").strip().lower()
    if value not in declared.choices:
        raise SettingError(f"{declared.variable}: {value!r} is not one of {', '.join(declared.choices)}")
    return value


def variables_of(names: Iterable[str]) -> tuple[str, ...]:
    """The environment variables ``names`` are read from (declared names only)."""
    return tuple(key for name in names for key in option(name).variables)


def fingerprint(variables: tuple[str, ...]) -> tuple[object, ...]:
    """What a cached reading of settings depends on: their variables (`variables_of`) and
    whether Airflow's config is loaded (airflow.cfg does not change under a running process)."""
    environ = os.environ
    return ("airflow.configuration" in sys.modules, *[environ.get(key) for key in variables])


# ---------------------------------------------------------------- where things live
def airgenome_home() -> Path:
    """The embedded home: Airflow metadata, stores, uploads, logs (never the source tree)."""
    return path("home") or (Path.cwd() / ".airgenome").resolve()


def dags_folder() -> Path:
    """The DAG bundle Airflow parses: the repo's ``dags/`` unless overridden."""
    return path("dags_folder") or REPO_ROOT / "dags"


def uploads_folder(home: Path | None = None) -> Path:
    """Sequences uploaded through the API/page; the loader reads them beside ``dags/sequences``."""
    return path("uploads_folder") or (home or airgenome_home()) / "uploads"


def lake_root(home: Path | None = None) -> str:
    """The lake's root URI (``file://<home>/lake`` embedded; ``s3://...`` in production)."""
    configured = string("lake_root")
    return configured.rstrip("/") if configured else f"file://{(home or airgenome_home()) / 'lake'}"


@dataclass(frozen=True)
class StoreLocations:
    """Where steps, SDKs and the plugin find the model store and the evaluation store."""

    model_store_uri: str
    model_artifacts: str
    evaluation_store_uri: str
    model_registry_uri: str | None = None

    @classmethod
    def under(cls, folder: Path) -> StoreLocations:
        """The embedded layout: both SQLite stores and the artifacts in one folder."""
        return cls(
            model_store_uri=f"sqlite:///{folder / 'mlflow.db'}",
            model_artifacts=str(folder / "artifacts"),
            evaluation_store_uri=f"sqlite:///{folder / 'evaluations.db'}",
        )

    def as_env(self) -> dict[str, str]:
        env = {
            "AIRGENOME_MODEL_STORE_URI": self.model_store_uri,
            "AIRGENOME_MODEL_ARTIFACTS": self.model_artifacts,
            "AIRGENOME_EVALUATION_STORE_URI": self.evaluation_store_uri,
        }
        if self.model_registry_uri:
            env["AIRGENOME_MODEL_REGISTRY_URI"] = self.model_registry_uri
        return env

    def secrets(self) -> list[str]:
        """The credentials inside these locations (for log masking)."""
        found = (uri_password(uri) for uri in (self.model_store_uri, self.evaluation_store_uri,
                                                self.model_registry_uri) if uri)
        return [password for password in found if password]


def store_locations(home: Path | None = None) -> StoreLocations:
    """The embedded defaults under ``<home>/stores``, each overridable by its setting."""
    default = StoreLocations.under((home or airgenome_home()) / "stores")
    return StoreLocations(
        model_store_uri=string("model_store_uri") or default.model_store_uri,
        model_artifacts=string("model_artifacts") or default.model_artifacts,
        evaluation_store_uri=string("evaluation_store_uri") or default.evaluation_store_uri,
        model_registry_uri=string("model_registry_uri"),
    )


def secret_store_variables() -> dict[str, tuple[str, bool]]:
    """Step variables that carry credentials: variable -> (key in the store secret, optional)."""
    return {o.variable: (o.secret_key, o.optional_secret) for o in OPTIONS if o.secret_key is not None}


# ---------------------------------------------------------------- credentials in text
def uri_password(uri: str) -> str | None:
    """The password in a URI's userinfo (``scheme://user:PASSWORD@host``), if any."""
    try:
        return urlsplit(uri).password or None
    except ValueError:
        return None


def redact_uri(uri: str) -> str:
    """The URI with its userinfo password replaced by ``***`` (safe to log)."""
    try:
        parts = urlsplit(uri)
        if not parts.password:
            return uri
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return uri
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, parts.fragment))


def redact_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with every URI password masked (for printing an environment)."""
    return {name: redact_uri(value) for name, value in env.items()}


# Worker variables a step never sees: Airflow's config (DB URL, Fernet key, JWT secret) and
# secrets exposed as environment variables.
AIRFLOW_PRIVATE_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_AIRFLOW")


def without_airflow_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without Airflow's configuration and secrets: what a component step may see."""
    return {k: v for k, v in env.items() if not k.startswith(AIRFLOW_PRIVATE_PREFIXES)}
