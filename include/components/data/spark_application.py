"""A ``spark.apply`` step in kubernetes mode: its ``SparkApplication`` manifest, rendered and
validated (pure functions; no cluster, no Airflow).

The manifest is a plain dict (``sparkoperator.k8s.io/v1beta2``) that the cncf provider's
``SparkKubernetesOperator`` creates. Its driver runs the component runtime
(``airgenome.components.runtime spark.apply``) with the step's environment, with ``master:
"submit"`` so the session takes the master spark-submit configured; the executors are the
operator's. It is validated with jsonschema against the spark-operator CRD schema shipped in
``schemas/`` (provenance there), made strict: the CRD schema allows unknown fields wherever it
does not say ``additionalProperties: false``, so `strict_schema` adds that to every object
that lists its properties (except where the CRD preserves unknown fields). A typo is refused.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).parent / "schemas" / "spark-operator-sparkapplication-v1beta2.schema.json"
API_VERSION = "sparkoperator.k8s.io/v1beta2"
KIND = "SparkApplication"
GROUP, VERSION = API_VERSION.split("/")
PLURAL = "sparkapplications"
# Where the component image installs the runtime; spark-submit runs it as a script with the
# component's name as its argument (runtime.py ends in ``sys.exit(main())``).
MAIN_APPLICATION_FILE = "local:///opt/airgenome/venv/lib/python3.11/site-packages/airgenome/components/runtime.py"
SPARK_VERSION = "4.0.0"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_METADATA_KEYS = {"name", "namespace", "labels", "annotations"}


class InvalidManifest(ValueError):
    """The manifest breaks the (strict) CRD schema; ``problems`` are "path: message" lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid SparkApplication:\n" + "\n".join(f"  {p}" for p in problems))


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CRD schema in which every object with ``properties`` refuses unknown keys."""
    strict = copy.deepcopy(dict(schema))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(strict)
    return strict


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = strict_schema(json.loads(SCHEMA_FILE.read_text()))
    return jsonschema.Draft7Validator(schema)


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise `InvalidManifest` naming every problem by path; return None when valid."""
    problems: list[str] = []
    for error in sorted(_validator().iter_errors(dict(manifest)), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(p) for p in error.absolute_path) or "$"
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            problems.extend(f"{path}.{key}: unknown field" if path != "$" else f"{key}: unknown field" for key in extra)
        else:
            problems.append(f"{path}: {error.message}")
    if manifest.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION}")
    if manifest.get("kind") != KIND:
        problems.append(f"kind: must be {KIND}")
    metadata = manifest.get("metadata")
    if isinstance(metadata, Mapping):
        for key in sorted(set(metadata) - _METADATA_KEYS):
            problems.append(f"metadata.{key}: unknown field (allowed: {', '.join(sorted(_METADATA_KEYS))})")
        name = metadata.get("name")
        # the driver pod is <name>-driver and its service name must fit 63 characters
        if not isinstance(name, str) or not _NAME.match(name) or len(name) > 56:
            problems.append("metadata.name: must be a DNS-1123 label of at most 56 characters")
    if problems:
        raise InvalidManifest(problems)


def application_name(pipeline: str, step: str, run_id: str) -> str:
    """A DNS-1123 name for one step run, at most 56 characters, stable for the same inputs."""
    import hashlib

    digest = hashlib.sha256(f"{pipeline}\0{step}\0{run_id}".encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]+", "-", f"{pipeline}-{step}".lower()).strip("-")[:46].strip("-") or "spark"
    return f"{base}-{digest}"


def render_manifest(
    *,
    name: str,
    namespace: str,
    image: str,
    environment: Mapping[str, str],
    driver_cores: int = 1,
    driver_memory: str = "1g",
    executor_instances: int = 2,
    executor_cores: int = 1,
    executor_memory: str = "2g",
    service_account: str = "spark",
    labels: Mapping[str, str] | None = None,
    spark_conf: Mapping[str, str] | None = None,
    main_application_file: str = MAIN_APPLICATION_FILE,
    spark_version: str = SPARK_VERSION,
    component: str = "spark.apply",
    secret_environment: Mapping[str, Mapping[str, Any]] | None = None,
    env_from_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The SparkApplication of one step: the driver runs ``runtime.py <component>`` with the
    step environment (``environment``: name -> value, e.g. PARAMETERS, AIRGENOME_INPUTS).

    Credentials are never values: ``secret_environment`` maps a variable to a Secret key
    (``{"name": secret, "key": key, "optional": bool}``, a ``secretKeyRef``), and every key of
    each Secret in ``env_from_secrets`` becomes a variable (``envFrom``)."""
    references = dict(secret_environment or {})
    env: list[dict[str, Any]] = [
        {"name": key, "value": str(value)} for key, value in sorted(environment.items()) if key not in references
    ]
    env += [{"name": key, "valueFrom": {"secretKeyRef": dict(ref)}} for key, ref in sorted(references.items())]
    common_labels = {"app.kubernetes.io/managed-by": "airgenome", **dict(labels or {})}
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        **dict(spark_conf or {}),
    }
    manifest: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(common_labels)},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": main_application_file,
            "arguments": [component],
            "sparkVersion": spark_version,
            "sparkConf": conf,
            "restartPolicy": {"type": "Never"},
            "driver": {
                "cores": driver_cores,
                "memory": driver_memory,
                "serviceAccount": service_account,
                "labels": dict(common_labels),
                "env": env,
                **({"envFrom": [{"secretRef": {"name": name}} for name in env_from_secrets]} if env_from_secrets else {}),
            },
            "executor": {
                "instances": executor_instances,
                "cores": executor_cores,
                "memory": executor_memory,
                "labels": dict(common_labels),
            },
        },
    }
    validate_manifest(manifest)
    return manifest
