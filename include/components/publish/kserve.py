"""`publish.kserve`: a KServe InferenceService (serving.kserve.io/v1beta1) for a blessed version.

Three steps, each usable alone:

- `render_inference_service` builds the manifest as a plain dict from the model version:
  ``modelFormat`` by framework (or ``mlflow`` with ``protocolVersion: v2``: every stored version
  is an MLflow model directory), ``storageUri`` from the version's artifact location, resources
  and GPU, ``canaryTrafficPercent`` only while a previous version serves.
- `validate_manifest` checks it with jsonschema against the CRD's schema (copied under
  ``schemas/`` with its provenance), made strict: unknown fields refused everywhere (the CRD
  sets no ``additionalProperties: false``) and the ranges the schema leaves open checked
  (``canaryTrafficPercent`` 0..100).
- `apply` talks to the Kubernetes API with the ``kubernetes`` client (components run without
  Airflow, so not the provider's KubernetesHook): get, then create or JSON-merge-patch; wait
  for ``Ready``; on failure roll back (delete what it created, or patch the previous spec back).

Without the ``cluster`` parameter the step is a dry run: it renders and validates only. No
dependency on the ``kserve`` package.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.publish.guard import load_version, require_blessed
from airgenome.components.publish.specs import KServeParameters

if TYPE_CHECKING:
    from airgenome.models.records import ModelRecord

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "kserve-inferenceservice-v1beta1.schema.json"
# Framework tag of a model version -> KServe modelFormat name (auto).
FORMAT_BY_FRAMEWORK = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "keras": "tensorflow",
    "tensorflow": "tensorflow",
}
RANGES = {"canaryTrafficPercent": (0, 100), "minReplicas": (0, None), "maxReplicas": (0, None)}
_LABEL_JUNK = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_JUNK = re.compile(r"[^a-z0-9-]+")


# --------------------------------------------------------------------------- rendering


def service_name(record: ModelRecord) -> str:
    """An RFC 1035 label (at most 45 characters: KServe appends suffixes) from the model's name."""
    base = record.canonical_name or record.name
    slug = _NAME_JUNK.sub("-", base.lower()).strip("-")
    slug = re.sub("-{2,}", "-", slug) or "model"
    if not slug[0].isalpha():
        slug = f"m-{slug}"
    return slug[:45].rstrip("-")


def _label_value(text: str) -> str:
    value = _LABEL_JUNK.sub("_", text)[:63].strip("_.-")
    return value or "model"


def model_format(record: ModelRecord, params: KServeParameters) -> tuple[str, str | None]:
    """(modelFormat name, protocolVersion) for the version."""
    if params.model_format == "mlflow":
        return "mlflow", "v2"
    if params.model_format != "auto":
        return params.model_format, params.protocol_version
    framework = (record.framework or "").lower()
    name = FORMAT_BY_FRAMEWORK.get(framework)
    if name is None:  # spark and anything else: the MLflow server reads every stored flavour
        return "mlflow", "v2"
    return name, params.protocol_version


def storage_uri(record: ModelRecord, params: KServeParameters) -> str:
    uri = params.storage_uri or record.source
    rewrite = params.storage_rewrite
    if rewrite is not None and uri.startswith(rewrite.from_prefix):
        uri = rewrite.to_prefix + uri[len(rewrite.from_prefix):]
    return uri


def _quantities(values: Any) -> dict[str, str]:
    return {key: value for key, value in values.model_dump().items() if value is not None}


def render_inference_service(
    record: ModelRecord,
    params: KServeParameters,
    *,
    namespace: str,
    previous_storage_uri: str | None = None,
    blessing_evaluation: str | None = None,
) -> dict[str, Any]:
    """The InferenceService for ``record``. ``previous_storage_uri``: what serves now (None: nothing)."""
    fmt, protocol = model_format(record, params)
    uri = storage_uri(record, params)
    model: dict[str, Any] = {"modelFormat": {"name": fmt}, "storageUri": uri}
    if protocol:
        model["protocolVersion"] = protocol
    if params.runtime:
        model["runtime"] = params.runtime
    requests = _quantities(params.resources.requests)
    limits = _quantities(params.resources.limits)
    if params.gpu:
        limits["nvidia.com/gpu"] = str(params.gpu)
        requests["nvidia.com/gpu"] = str(params.gpu)
    resources = {key: value for key, value in (("requests", requests), ("limits", limits)) if value}
    if resources:
        model["resources"] = resources
    predictor: dict[str, Any] = {"model": model}
    if params.min_replicas is not None:
        predictor["minReplicas"] = params.min_replicas
    if params.max_replicas is not None:
        predictor["maxReplicas"] = params.max_replicas
    if params.service_account_name:
        predictor["serviceAccountName"] = params.service_account_name
    serving_other = previous_storage_uri is not None and previous_storage_uri != uri
    if params.canary_traffic_percent is not None and serving_other:
        predictor["canaryTrafficPercent"] = params.canary_traffic_percent
    annotations = {
        "airgenome.io/model-version": record.id,
        "airgenome.io/canonical-name": record.canonical_name,
        **({"airgenome.io/blessing-evaluation": blessing_evaluation} if blessing_evaluation else {}),
        **params.annotations,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": params.name or service_name(record),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "airgenome",
                "airgenome.io/model": _label_value(record.name),
                "airgenome.io/model-version": str(record.version),
            },
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


# --------------------------------------------------------------------------- validation


def _strict(node: Any) -> None:
    """additionalProperties: false on every object schema that lists its properties (unless it
    preserves unknown fields), and the ranges the controller enforces; walks schema keywords only."""
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for key, child in properties.items():
            if key in RANGES and isinstance(child, dict) and child.get("type") == "integer":
                low, high = RANGES[key]
                child["minimum"] = low
                if high is not None:
                    child["maximum"] = high
            _strict(child)
    for keyword in ("items", "additionalProperties", "not"):
        child = node.get(keyword)
        if isinstance(child, dict):
            _strict(child)
        elif isinstance(child, list):
            for item in child:
                _strict(item)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for item in node.get(keyword) or ():
            _strict(item)


_LABELS = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63,
                                                      "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}}


@functools.lru_cache(maxsize=1)
def strict_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())  # a fresh object: ours to change
    _strict(schema)
    properties = schema["properties"]
    properties["apiVersion"] = {"type": "string", "const": API_VERSION}
    properties["kind"] = {"type": "string", "const": KIND}
    properties["metadata"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"},
            "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
            "labels": _LABELS,
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema["additionalProperties"] = False
    return schema


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator(strict_schema())


def validate_manifest(manifest: Any) -> list[str]:
    """Every problem, as ``path: message`` (empty: valid)."""
    problems = []
    for error in sorted(_validator().iter_errors(manifest), key=lambda e: [str(p) for p in e.absolute_path]):
        path = ".".join(str(part) for part in error.absolute_path) or "(manifest)"
        problems.append(f"{path}: {error.message}")
    return problems


def check_manifest(manifest: Any) -> None:
    problems = validate_manifest(manifest)
    if problems:
        raise ComponentFailed("the InferenceService is not valid against the KServe CRD schema:\n  "
                              + "\n  ".join(problems))


# --------------------------------------------------------------------------- applying


def merge_patch_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (null removes a key)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif old[key] != value:
            patch[key] = merge_patch_diff(old[key], value)
    return patch


def _owned(obj: dict[str, Any], keys_of: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parts of an object this component writes: its spec, and the labels / annotations it
    sets (``keys_of``: the manifest whose keys count; a key the object lacks is None)."""
    metadata = obj.get("metadata") or {}
    reference = (keys_of or obj).get("metadata") or {}
    owned: dict[str, Any] = {"spec": copy.deepcopy(obj.get("spec") or {}), "metadata": {}}
    for part in ("labels", "annotations"):
        have = metadata.get(part) or {}
        owned["metadata"][part] = {key: have.get(key) for key in reference.get(part) or {}}
    return owned


def patch_towards(current: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A merge patch making ``current`` carry ``target``'s spec and labels / annotations (others'
    labels and annotations are left alone; a None value in ``target`` removes the key)."""
    patch: dict[str, Any] = {}
    metadata = current.get("metadata") or {}
    for part in ("labels", "annotations"):
        have = metadata.get(part) or {}
        changed = {key: value for key, value in (target["metadata"].get(part) or {}).items() if have.get(key) != value}
        if changed:
            patch.setdefault("metadata", {})[part] = changed
    spec = merge_patch_diff(current.get("spec") or {}, target["spec"])
    if spec:
        patch["spec"] = spec
    return patch


def is_ready(obj: dict[str, Any]) -> tuple[bool, str]:
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and int(observed) < int(generation):
        return False, f"generation {generation} not observed yet (observed {observed})"
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            if str(condition.get("status")) == "True":
                return True, "Ready"
            return False, f"Ready={condition.get('status')}: {condition.get('reason') or ''} {condition.get('message') or ''}".strip()
    return False, "no Ready condition yet"


def serving_storage_uri(obj: dict[str, Any] | None) -> str | None:
    if not obj:
        return None
    model = (((obj.get("spec") or {}).get("predictor") or {}).get("model") or {})
    uri = model.get("storageUri")
    return str(uri) if uri else None


class KServeApi:
    """The four calls on InferenceServices, over the kubernetes client's CustomObjectsApi."""

    def __init__(self, api: Any) -> None:
        self.api = api

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, in_cluster: bool) -> KServeApi:
        from kubernetes import client, config

        try:
            if in_cluster:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                api_client = client.ApiClient(configuration)
            else:  # its own ApiClient: nothing global (parallel steps with two clusters do not mix)
                api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as error:
            raise ComponentFailed(f"parameters.cluster: cannot load the cluster configuration: {error}") from None
        return cls(client.CustomObjectsApi(api_client))

    @staticmethod
    def default_namespace(kubeconfig: str | None, context: str | None) -> str | None:
        if not kubeconfig:
            return None
        from kubernetes import config

        try:
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        except (config.ConfigException, OSError):
            return None
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace")
        return str(namespace) if namespace else None

    def _call(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return function(GROUP, VERSION, *args)
        except ApiException as error:
            if error.status == 404 and what == "get":
                return None
            raise ComponentFailed(f"kubernetes {what} of an InferenceService failed: {error.status} "
                                  f"{error.reason}: {_api_message(error)}") from None
        except HTTPError as error:
            raise ComponentFailed(f"kubernetes {what} of an InferenceService failed: {error}") from None

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._call("get", self.api.get_namespaced_custom_object, namespace, PLURAL, name)
        return found

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call("create", self.api.create_namespaced_custom_object, namespace, PLURAL, body)
        return created

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self._call("patch", self.api.patch_namespaced_custom_object, namespace, PLURAL, name, patch)
        return patched

    def delete(self, namespace: str, name: str) -> None:
        self._call("delete", self.api.delete_namespaced_custom_object, namespace, PLURAL, name)


def _api_message(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(error.body)[:300]


def apply(
    api: KServeApi,
    manifest: dict[str, Any],
    existing: dict[str, Any] | None,
    *,
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create or merge-patch ``manifest``, wait for Ready, roll back on failure. Returns
    ``{"action", "ready", "url", "status", "waited_s"}``."""
    metadata = manifest["metadata"]
    name, namespace = metadata["name"], metadata["namespace"]
    started = clock()
    if existing is None:
        current = api.create(namespace, manifest)
        action = "created"

        def rollback() -> str:
            api.delete(namespace, name)
            return "deleted the InferenceService it created"
    else:
        before = _owned(existing, keys_of=manifest)  # what to restore: old spec, old values of our keys
        current = api.patch(namespace, name, patch_towards(existing, manifest))
        action = "patched"

        def rollback() -> str:
            now = api.get(namespace, name)
            if now is None:
                return "nothing to roll back (the InferenceService is gone)"
            api.patch(namespace, name, patch_towards(now, before))
            return "restored the previous spec"

    try:
        ready, why = is_ready(current)
        while not ready:
            if clock() - started >= timeout_s:
                raise TimeoutError(f"not Ready within {timeout_s:g} s ({why})")
            sleep(poll_s)
            found = api.get(namespace, name)
            if found is None:
                raise TimeoutError("the InferenceService disappeared while waiting for Ready")
            current = found
            ready, why = is_ready(current)
    except (TimeoutError, ComponentFailed) as error:
        try:
            undone = rollback()
        except ComponentFailed as undo_error:
            undone = f"rollback failed too: {undo_error}"
        raise ComponentFailed(f"InferenceService {namespace}/{name} {action} but {error}; {undone}") from None
    status = current.get("status") or {}
    return {"action": action, "ready": True, "url": status.get("url"), "status": status,
            "waited_s": round(clock() - started, 3)}


# --------------------------------------------------------------------------- the component


def run(ctx: ComponentContext, params: KServeParameters) -> Result:
    from airgenome.components.files import write_bytes
    from airgenome.errors import NotFound
    from airgenome.evaluations.store import get_evaluation_store

    store, record = load_version(ctx)
    blessing = require_blessed(ctx, record, get_evaluation_store(ctx.stores.evaluation_store_uri))
    cluster = params.cluster
    dry_run = params.dry_run if params.dry_run is not None else cluster is None
    namespace = params.namespace
    api: KServeApi | None = None
    if cluster is not None:
        namespace = namespace or KServeApi.default_namespace(cluster.kubeconfig, cluster.context)
        api = KServeApi.connect(cluster.kubeconfig, cluster.context, cluster.in_cluster)
    namespace = namespace or "default"
    name = params.name or service_name(record)

    existing = api.get(namespace, name) if api is not None else None
    if api is not None:
        previous_uri = serving_storage_uri(existing)
        previous_source = "cluster" if existing else None
    else:  # no cluster to ask: the holder of the baseline alias (when not this version) serves
        try:
            holder = store.get_model(name=record.name, alias=params.baseline_alias)
        except NotFound:
            holder = None
        previous_uri = storage_uri(holder, params) if holder is not None and holder.id != record.id else None
        previous_source = f"alias {params.baseline_alias}" if previous_uri else None
    manifest = render_inference_service(record, params, namespace=namespace, previous_storage_uri=previous_uri,
                                        blessing_evaluation=blessing.evaluation_id)
    check_manifest(manifest)
    warnings = []
    if manifest["spec"]["predictor"]["model"]["storageUri"].startswith("file:"):
        warnings.append("storageUri is a file:// path: only a runtime that mounts that path can read it "
                        "(set storage_rewrite or storage_uri)")
    outcome: dict[str, Any]
    if dry_run:
        outcome = {"action": "dry-run", "ready": None, "url": None, "status": {}, "waited_s": 0.0}
        print(f"dry run: InferenceService {namespace}/{name} rendered and valid (not applied; "
              + ("dry_run is true)" if cluster is not None else "no cluster parameter)"))
    else:
        assert api is not None
        outcome = apply(api, manifest, existing, timeout_s=params.ready_timeout_s, poll_s=params.poll_interval_s)
        print(f"InferenceService {namespace}/{name} {outcome['action']} and Ready at {outcome['url']}")
        store.set_system_tag(record, "airgenome.deployment.kserve", f"{namespace}/{name}")
    document = {"manifest": manifest, **outcome, "previousStorageUri": previous_uri,
                "previousFrom": previous_source, "warnings": warnings, "dryRun": dry_run}
    uri = ctx.output("deployment", "inferenceservice.json")
    facts = write_bytes(uri, json.dumps(document, indent=1, sort_keys=True, default=str).encode())
    result = Result(model_version=record.id, evaluation_ids=[blessing.evaluation_id] if blessing.evaluation_id else [],
                    metrics={"ready_wait_s": outcome["waited_s"]})
    predictor = manifest["spec"]["predictor"]
    result.add_output(
        "deployment", uri, "deployment", target="kserve", service=name, namespace=namespace,
        action=outcome["action"], ready=outcome["ready"], url=outcome["url"], version=record.id,
        storageUri=predictor["model"]["storageUri"], modelFormat=predictor["model"]["modelFormat"]["name"],
        canaryTrafficPercent=predictor.get("canaryTrafficPercent"), dryRun=dry_run, warnings=warnings, **facts,
    )
    return result
