"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions.

Every publish component refuses a model version that is not blessed — checked by the component
itself (the version's ``airgenome.blessing`` tag and the verdict in the evaluation store, plus a
wired ``blessing`` input when there is one), not only by the DAG's order.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airgenome.components.registry import ComponentSpec, Port, lazy

_ALIAS = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
# RFC 1035 label (what Kubernetes wants for an InferenceService name), and RFC 1123 for namespaces.
_DNS_LABEL = r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# Kubernetes' quantity grammar (the pattern the CRD schema carries for resources).
QUANTITY = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
_ANNOTATION_KEY = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"


class MlflowAliasParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str = Field(default="champion", pattern=_ALIAS, description="the alias moved to the version")
    previous_alias: str | None = Field(default="previous", pattern=_ALIAS,
                                       description="alias the former holder keeps (null: none)")

    @model_validator(mode="after")
    def _distinct(self) -> MlflowAliasParameters:
        if self.previous_alias == self.alias:
            raise ValueError("previous_alias must differ from alias")
        return self


class Quantities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu: str | None = Field(default=None, pattern=QUANTITY, description="e.g. 500m, 2")
    memory: str | None = Field(default=None, pattern=QUANTITY, description="e.g. 512Mi, 2Gi")


class ResourceParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: Quantities = Field(default_factory=Quantities)
    limits: Quantities = Field(default_factory=Quantities)


class ClusterParameters(BaseModel):
    """Where the InferenceService is applied: a kubeconfig file (and context) on the worker or
    in the pod (e.g. a mounted Secret), or the pod's in-cluster service account."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str | None = Field(default=None, min_length=1, max_length=1000, description="kubeconfig file path")
    context: str | None = Field(default=None, min_length=1, max_length=253, description="kubeconfig context")
    in_cluster: bool = Field(default=False, description="use the pod's service account")

    @model_validator(mode="after")
    def _one_source(self) -> ClusterParameters:
        if bool(self.kubeconfig) == self.in_cluster:
            raise ValueError("give either kubeconfig or in_cluster: true")
        if self.in_cluster and self.context:
            raise ValueError("context applies to a kubeconfig only")
        return self


class StorageRewrite(BaseModel):
    """Rewrite the artifact location's prefix into one the serving runtime can read (e.g. a local
    file:// artifact store mounted as a PVC)."""

    model_config = ConfigDict(extra="forbid")

    from_prefix: str = Field(min_length=1, max_length=1000)
    to_prefix: str = Field(min_length=1, max_length=1000)


class KServeParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=_DNS_LABEL,
                             description="InferenceService name (default: from the model's name)")
    namespace: str | None = Field(default=None, pattern=_NAMESPACE,
                                  description="default: the kubeconfig context's namespace, else 'default'")
    model_format: Literal["auto", "mlflow", "sklearn", "xgboost", "tensorflow"] = Field(
        default="auto", description="auto: by the version's framework; mlflow serves any stored version (v2)")
    protocol_version: Literal["v1", "v2"] | None = Field(default=None, description="mlflow always uses v2")
    runtime: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
                                description="a ServingRuntime name")
    storage_uri: str | None = Field(default=None, min_length=3, max_length=2000,
                                    description="override the model's artifact location")
    storage_rewrite: StorageRewrite | None = None
    resources: ResourceParameters = Field(default_factory=ResourceParameters)
    gpu: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu limit")
    min_replicas: int | None = Field(default=None, ge=0, le=1000)
    max_replicas: int | None = Field(default=None, ge=1, le=1000)
    service_account_name: str | None = Field(default=None, pattern=_NAMESPACE)
    canary_traffic_percent: int | None = Field(
        default=None, ge=0, le=100, description="traffic share of the new version while a previous one serves")
    annotations: dict[str, str] = Field(default_factory=dict, max_length=50)
    cluster: ClusterParameters | None = Field(
        default=None, description="where to apply; without it the step only renders and validates")
    dry_run: bool | None = Field(default=None, description="render and validate only (default: true without cluster)")
    ready_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    poll_interval_s: float = Field(default=2.0, ge=0.01, le=60)
    baseline_alias: str = Field(default="champion", pattern=_ALIAS,
                                description="without a cluster: the alias whose holder counts as serving")

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, annotations: dict[str, str]) -> dict[str, str]:
        bad = [key for key in annotations if not re.match(_ANNOTATION_KEY, key)]
        if bad:
            raise ValueError(f"not valid annotation keys: {', '.join(map(repr, bad))}")
        return annotations

    @model_validator(mode="after")
    def _consistent(self) -> KServeParameters:
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        if self.dry_run is False and self.cluster is None:
            raise ValueError("dry_run: false needs cluster (a kubeconfig or in_cluster)")
        if self.model_format == "mlflow" and self.protocol_version == "v1":
            raise ValueError("the mlflow format is served with protocol v2")
        return self


class ReportParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=300)
    max_evaluations: int = Field(default=50, ge=1, le=500, description="evaluations of the version shown")
    embed_pictures: bool = Field(default=True, description="embed pictures as data: URIs (else link their URIs)")
    max_picture_bytes: int = Field(default=5_000_000, ge=1, le=50_000_000)
    require_blessed: bool = Field(default=True, description="refuse an unblessed version (false: audit report)")
    filename: str = Field(default="report.html", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.html$")


REPORT_EVALUATION_INPUTS = ("evaluation", "confusion", "fairness", "robustness", "explanations", "data_validation")

_MODULE = "airgenome.components.publish"

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="publish.mlflow-alias",
        summary="move an MLflow alias (champion) to a blessed version; the former holder keeps 'previous'",
        load=lazy(f"{_MODULE}.alias", "run"),
        params=MlflowAliasParameters,
        inputs={"model": Port("model", "the version to publish"),
                "blessing": Port("blessing", "the policy's verdict", required=False)},
        outputs={"deployment": Port("deployment", "the alias move")},
        example={"alias": "champion", "previous_alias": "previous"},
    ),
    ComponentSpec(
        name="publish.kserve",
        summary="render a KServe InferenceService (v1beta1) for a blessed version, validate it against "
        "the CRD schema (unknown fields and out-of-range values refused), and apply it when a cluster is "
        "given: get, then create or merge-patch, wait for Ready, roll back on failure",
        load=lazy(f"{_MODULE}.kserve", "run"),
        params=KServeParameters,
        inputs={"model": Port("model", "the version to serve"),
                "blessing": Port("blessing", "the policy's verdict", required=False)},
        outputs={"deployment": Port("deployment", "the InferenceService manifest and its status")},
        example={"model_format": "mlflow", "canary_traffic_percent": 10,
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
    ),
    ComponentSpec(
        name="publish.report",
        summary="a self-contained HTML report of a version: model card, evaluations with their "
        "pictures, explanations, blessing and lineage, written to the lake",
        load=lazy(f"{_MODULE}.report", "run"),
        params=ReportParameters,
        inputs={
            "model": Port("model", "the version reported on"),
            "blessing": Port("blessing", "the policy's verdict", required=False),
            "deployment": Port("deployment", "a deployment to show", required=False),
            **{name: Port("evaluation", f"an evaluation to show ({name})", required=False)
               for name in REPORT_EVALUATION_INPUTS},
        },
        outputs={"report": Port("report", "the HTML report")},
        example={"title": "CT scan classifier"},
    ),
)
