"""What a task's `dataset` argument is: a data ref, or the data when a resolver knows its scheme.

`@task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})` names
data by reference (Genome's DataRef). Before the task runs, the ref's scheme (the part
before ``://``) is looked up in an explicit registry of resolvers:

- a resolver is registered for the scheme: the task receives what it returns (the data);
- none is: the task receives the `DataRef` itself (``dataset.ref``, ``dataset["ref"]``).

Built in: ``sklearn://<name>`` loads one of scikit-learn's bundled datasets (offline).
Register others with `register_dataset_resolver("mllake", loader)`; a scheme maps to a
callable you pass in — never to an import string taken from a spec.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airgenome.errors import InvalidInput


@dataclass(frozen=True)
class DataRef:
    """Genome's data reference: ``ref`` (a URI) and ``refType`` (its kind, e.g. mllake)."""

    ref: str
    refType: str  # noqa: N815 - Genome's field name, kept for its examples

    @property
    def scheme(self) -> str | None:
        head, sep, _ = self.ref.partition("://")
        return head.lower() if sep else None

    def __getitem__(self, key: str) -> str:
        # Genome code reads refs as dicts: dataset["ref"].
        if key == "ref":
            return self.ref
        if key == "refType":
            return self.refType
        raise KeyError(key)

    def to_dict(self) -> dict[str, str]:
        return {"ref": self.ref, "refType": self.refType}


Resolver = Callable[[DataRef], Any]

_lock = threading.Lock()
_resolvers: dict[str, Resolver] = {}


def parse_data_ref(spec: object, field: str = "dataset") -> DataRef | None:
    """`None`, a URI string, or ``{"ref": str, "refType"?: str}``; anything else is refused."""
    if spec is None:
        return None
    if isinstance(spec, DataRef):
        return spec
    if isinstance(spec, str):
        spec = {"ref": spec}
    if not isinstance(spec, Mapping):
        raise InvalidInput(f"{field}: expected {{'ref': 'scheme://...'}}, got {type(spec).__name__}")
    ref = spec.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"{field}.ref: expected a non-empty string, got {ref!r}")
    unknown = sorted(set(spec) - {"ref", "refType"})
    if unknown:
        raise InvalidInput(f"{field}: unknown keys {unknown}; a data ref has 'ref' and 'refType'")
    ref_type = spec.get("refType")
    if ref_type is not None and not isinstance(ref_type, str):
        raise InvalidInput(f"{field}.refType: expected a string, got {ref_type!r}")
    head, sep, _ = ref.partition("://")
    return DataRef(ref=ref, refType=ref_type or (head.lower() if sep else "mllake"))


def register_dataset_resolver(scheme: str, resolver: Resolver) -> None:
    """Make tasks whose dataset ref has this scheme receive `resolver(ref)` instead of the ref."""
    if not scheme or "://" in scheme or not callable(resolver):
        raise InvalidInput(f"scheme: expected a bare scheme like 'mllake' and a callable, got {scheme!r}")
    with _lock:
        _resolvers[scheme.lower()] = resolver


def unregister_dataset_resolver(scheme: str) -> None:
    with _lock:
        _resolvers.pop(scheme.lower(), None)


def resolve_dataset(ref: DataRef | None) -> Any:
    """The task's `dataset` argument for this ref (see the module docstring)."""
    if ref is None or ref.scheme is None:
        return ref
    with _lock:
        resolver = _resolvers.get(ref.scheme)
    return ref if resolver is None else resolver(ref)


def _sklearn_bundled(ref: DataRef) -> Any:
    """``sklearn://iris`` etc.: datasets shipped inside scikit-learn (no download)."""
    from sklearn import datasets

    loaders: dict[str, Callable[[], Any]] = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
        "linnerud": datasets.load_linnerud,
    }
    name = ref.ref.partition("://")[2].strip("/")
    if name not in loaders:
        raise InvalidInput(f"dataset.ref: unknown sklearn dataset {name!r}; known: {sorted(loaders)}")
    return loaders[name]()


register_dataset_resolver("sklearn", _sklearn_bundled)
