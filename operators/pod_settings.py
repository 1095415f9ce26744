"""Platform settings for step pods: namespace, GPU pool, GPU tolerations and node selector,
and the Kubernetes Secrets that carry store credentials into pods.

Read through `airgenome.settings` at operator construction / pod build time
(``AIRGENOME_<NAME>``, then ``AIRFLOW__AIRGENOME__<NAME>``, then ``[airgenome]`` in
airflow.cfg). Reading them is cheap (environment and the already-loaded config, no I/O). A
malformed value raises `PodSettingsError` naming the variable, so a typo fails loudly instead
of scheduling GPU pods nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airgenome import settings
from airgenome.settings import DEFAULT_GPU_POOL, DEFAULT_NAMESPACE, SettingError

GPU_RESOURCE = "nvidia.com/gpu"
# The taint NVIDIA's GPU operator and the managed clouds put on GPU nodes.
DEFAULT_GPU_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
)
_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
_TOLERATION_OPERATORS = frozenset({"Exists", "Equal"})
_TOLERATION_EFFECTS = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})

# A pod setting (environment / [airgenome] config) is malformed.
PodSettingsError = SettingError


def _tolerations(value: Any) -> list[dict[str, Any]]:
    where = "AIRGENOME_GPU_TOLERATIONS"
    if not isinstance(value, list):
        raise PodSettingsError(f"{where}: expected a JSON list of tolerations")
    problems: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            problems.append(f"{where}[{index}]: expected an object")
            continue
        unknown = sorted(set(item) - _TOLERATION_KEYS)
        if unknown:
            problems.append(f"{where}[{index}]: unknown field(s) {', '.join(unknown)}")
        if item.get("operator", "Equal") not in _TOLERATION_OPERATORS:
            problems.append(f"{where}[{index}].operator: must be Exists or Equal")
        if "effect" in item and item["effect"] not in _TOLERATION_EFFECTS:
            problems.append(f"{where}[{index}].effect: must be one of {sorted(_TOLERATION_EFFECTS)}")
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
            problems.append(f"{where}[{index}].tolerationSeconds: must be an integer")
        for text_field in ("key", "value"):
            if text_field in item and not isinstance(item[text_field], str):
                problems.append(f"{where}[{index}].{text_field}: must be a string")
    if problems:
        raise PodSettingsError("; ".join(problems))
    return [dict(item) for item in value]


def _node_selector(value: Any) -> dict[str, str]:
    where = "AIRGENOME_GPU_NODE_SELECTOR"
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PodSettingsError(f"{where}: expected a JSON object of string labels")
    return dict(value)


@dataclass(frozen=True)
class PodSettings:
    namespace: str = DEFAULT_NAMESPACE
    gpu_pool: str = DEFAULT_GPU_POOL
    gpu_tolerations: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(t) for t in DEFAULT_GPU_TOLERATIONS]
    )
    gpu_node_selector: dict[str, str] = field(default_factory=dict)
    # The Secret whose keys carry the store URIs (see `settings.secret_store_variables`).
    store_secret_name: str = settings.DEFAULT_STORE_SECRET
    # Secrets whose keys all become environment variables of step pods.
    secret_env_from: tuple[str, ...] = ()
    # The Secret whose keys (connection ids) carry connection URLs (airgenome.operators.connections).
    connections_secret_name: str = "airgenome-connections"


def gpu_pool_name() -> str:
    return settings.string("gpu_pool") or DEFAULT_GPU_POOL


def pod_settings() -> PodSettings:
    tolerations = settings.json_value("gpu_tolerations")
    selector = settings.json_value("gpu_node_selector")
    return PodSettings(
        namespace=settings.string("k8s_namespace") or DEFAULT_NAMESPACE,
        gpu_pool=gpu_pool_name(),
        gpu_tolerations=(
            _tolerations(tolerations)
            if tolerations is not None
            else [dict(t) for t in DEFAULT_GPU_TOLERATIONS]
        ),
        gpu_node_selector=_node_selector(selector) if selector is not None else {},
        store_secret_name=settings.string("store_secret_name") or settings.DEFAULT_STORE_SECRET,
        secret_env_from=settings.string_list("secret_env_from"),
        connections_secret_name=settings.string("connections_secret_name") or "airgenome-connections",
    )
