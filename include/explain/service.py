"""The explain service: resolve a model version, load it once, explain in the worker pool
(or right away, when a measured-cheap SHAP request needs no I/O: `explain_inline`).

Used by the plugin's router and by the standalone `airgenome explainer` app alike, so
both answer the same requests the same way. Models come from the model store by
canonicalName (latest), version number or alias; anything that can explain
(`ExplainableModel`) can also be registered directly (tests, benchmarks).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airgenome import settings
from airgenome.errors import InvalidInput, NotFound
from airgenome.explain.cache import LoadOnceCache
from airgenome.explain.model import ExplainableModel, from_estimator
from airgenome.explain.pool import WorkerPool
from airgenome.explain.share import LoopShare

INPUT_FOR = {"tabular": "entries", "image": "image", "text": "text"}
# Answered on the caller's thread when the model is loaded, its name resolved, and its
# explanations measured cheap in the pool: exact TreeSHAP of a row of a 120-tree forest
# takes ~0.2 ms, less than the hop to a worker thread and back (measured over HTTP: p50
# -0.23 ms, p95 -0.5 ms). Everything else, and anything that would load or resolve, goes
# to the worker pool.
INLINE_MAX_ROWS = 4
INLINE_METHODS = frozenset({"tree", "linear"})
INLINE_BUDGET_S = 0.001


@dataclass(frozen=True)
class ModelRef:
    canonical_name: str
    version: str | None = None
    alias: str | None = None
    application: str | None = None


@dataclass
class LoadedModel:
    key: str
    model: ExplainableModel
    explainer: Any
    record: Any = None
    # The latest tabular explanation's seconds per row, measured in the pool (None: not yet).
    seconds_per_row: float | None = None


class TextExplainer:
    def __init__(self, model: ExplainableModel) -> None:
        self.model = model
        self.predict = model.predict_function()
        method = model.estimator_predict or "predict_proba"
        self.method = method if callable(getattr(model.model, method, None)) else "predict_proba"

    def explain(self, text: Any) -> dict[str, Any]:
        from airgenome.explain.text import explain_text

        pipeline = self.model.model if hasattr(self.model.model, "steps") else None
        return explain_text(
            text, self.predict, self.model.target_classes, pipeline=pipeline, method=self.method
        )


def build_explainer(model: ExplainableModel) -> Any:
    if model.modality == "tabular":
        from airgenome.explain.tabular import TabularExplainer

        return TabularExplainer(model)
    if model.modality == "image":
        from airgenome.explain.image import GradCam

        return GradCam(model)
    return TextExplainer(model)


class ExplainService:
    def __init__(
        self,
        *,
        store_factory: Callable[[], Any] | None = None,
        cache_size: int | None = None,
        pool: WorkerPool | None = None,
        loop_share: LoopShare | None = None,
    ) -> None:
        size = cache_size or (settings.integer("explain_cache_size") or 8)
        self.cache: LoadOnceCache[LoadedModel] = LoadOnceCache(size)
        self.pool = pool or WorkerPool()
        # In Airflow's API server explanations yield the event loop to Airflow's own API.
        if loop_share is None:
            share = settings.number("explain_api_server_share") if in_api_server() else None
            loop_share = LoopShare(1.0 if share is None else share)
        self.loop_share = loop_share
        self._store_factory = store_factory
        self._store: Any = None
        self._default: tuple[tuple[object, ...], Any] | None = None
        self._registered: dict[str, ExplainableModel] = {}
        self._lock = threading.Lock()
        # Resolving a name costs ~20 ms of MLflow queries: numbered versions are kept (they
        # never change), `latest` and aliases for `resolve_ttl_s` seconds.
        ttl = settings.number("explain_resolve_ttl_s")
        self.resolve_ttl_s = 2.0 if ttl is None else ttl
        self._resolved: dict[tuple[str, ModelRef], tuple[float, Any]] = {}
        self._refreshing: set[tuple[str, ModelRef]] = set()
        self.preloaded = threading.Event()

    # -- models ----------------------------------------------------------------------

    @property
    def store(self) -> Any:
        """A custom store (made once), else the configured one, which follows the settings
        (the cache keys carry the store's URI). It is kept while the settings it is read
        from stay the same: reading them (`store_locations`) costs ~0.26 ms a request where
        Airflow's config is loaded, about what a one-row TreeSHAP answer costs."""
        if self._store_factory is None:
            key = (*settings.fingerprint(_STORE_VARIABLES), os.getcwd())  # cwd: the default home
            kept = self._default
            if kept is None or kept[0] != key:
                kept = self._default = (key, _default_store())
            return kept[1]
        with self._lock:
            if self._store is None:
                self._store = self._store_factory()
            return self._store

    def register(self, canonical_name: str, model: ExplainableModel) -> None:
        """Serve a model that is not in the store (tests, benchmarks, embedding)."""
        self._registered[canonical_name] = model

    def record(self, ref: ModelRef, store: Any = None) -> Any:
        store = store or self.store
        key = self._resolve_key(store, ref)
        record = self._usable_resolution(key, store, ref)
        if record is None:
            record = self._resolve(key, store, ref)
        _check_application(ref, record)
        return record

    @staticmethod
    def _resolve_key(store: Any, ref: ModelRef) -> tuple[str, ModelRef]:
        return (str(getattr(store.backend, "uri", "")), ref)

    def _usable_resolution(self, key: tuple[str, ModelRef], store: Any, ref: ModelRef) -> Any:
        """The remembered record for a name if it may answer now, else None (resolve it)."""
        cached = self._resolved.get(key)
        if cached is None:
            return None
        fixed = ref.alias is None and ref.version is not None and ref.version.isdigit()
        age = time.monotonic() - cached[0]
        if fixed or age < self.resolve_ttl_s:
            return cached[1]
        if self.resolve_ttl_s > 0 and age < 30 * self.resolve_ttl_s:
            # Stale but recent: answer with it and refresh in the background, so no request
            # pays the MLflow lookup while the name keeps being used.
            self._refresh_later(key, store, ref)
            return cached[1]
        return None

    def _resolve(self, key: tuple[str, ModelRef], store: Any, ref: ModelRef) -> Any:
        record = store.get_model(canonical_name=ref.canonical_name, version=ref.version, alias=ref.alias)
        with self._lock:
            if len(self._resolved) > 1024:
                self._resolved.clear()
            self._resolved[key] = (time.monotonic(), record)
            self._refreshing.discard(key)
        return record

    def _refresh_later(self, key: tuple[str, ModelRef], store: Any, ref: ModelRef) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._resolve(key, store, ref)
            except Exception:  # noqa: BLE001 - e.g. deleted meanwhile: the next request resolves itself
                with self._lock:
                    self._resolved.pop(key, None)
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name="airgenome-explain-resolve", daemon=True).start()

    def loaded(self, ref: ModelRef) -> LoadedModel | None:
        """The model if it is loaded and its name resolved already, else None: no I/O, no load."""
        if ref.canonical_name in self._registered:
            if ref.version not in (None, "latest", "1") or ref.alias:
                return None
            return self.cache.peek(_registered_key(ref.canonical_name))
        store = self.store
        record = self._usable_resolution(self._resolve_key(store, ref), store, ref)
        if record is None or not _same_application(ref, record):
            return None  # the pool path resolves it, or answers 404
        return self.cache.peek(_stored_key(store, record))

    def load(self, ref: ModelRef) -> LoadedModel:
        if ref.canonical_name in self._registered:
            if ref.version not in (None, "latest", "1") or ref.alias:
                raise NotFound(
                    f"model {ref.canonical_name!r} has no version {ref.version or '@' + str(ref.alias)}"
                )
            key = _registered_key(ref.canonical_name)
            model = self._registered[ref.canonical_name]
            return self.cache.get(key, lambda: LoadedModel(key, model, build_explainer(model)))
        store = self.store
        record = self.record(ref, store)
        key = _stored_key(store, record)
        return self.cache.get(key, lambda: self._load_record(store, record, key))

    @staticmethod
    def _load_record(store: Any, record: Any, key: str) -> LoadedModel:
        estimator = store.load_record(record)
        model = from_estimator(estimator, name=record.canonical_name)
        return LoadedModel(key, model, build_explainer(model), record)

    # -- explanations ------------------------------------------------------------------

    def explain_sync(
        self, ref: ModelRef, *, entries: Any = None, image: Any = None, text: Any = None
    ) -> dict[str, Any]:
        given = {
            name: value
            for name, value in (("entries", entries), ("image", image), ("text", text))
            if value is not None
        }
        if len(given) != 1:
            raise InvalidInput(
                "give exactly one of entries (tabular rows), image (base64) or text",
                details=[{"field": "entries|image|text", "message": f"got {sorted(given) or 'none'}"}],
            )
        ((field, value),) = given.items()
        loaded = self.load(ref)
        expected = INPUT_FOR[loaded.model.modality]
        if field != expected:
            raise InvalidInput(
                f"{field}: model {ref.canonical_name!r} is a {loaded.model.modality} model; send {expected!r}",
                details=[{"field": field, "message": f"this model takes {expected}"}],
            )
        started = time.perf_counter()
        result: dict[str, Any] = loaded.explainer.explain(value)
        if field == "entries":
            loaded.seconds_per_row = (time.perf_counter() - started) / max(1, len(value))
        return result

    def explain_inline(
        self, ref: ModelRef, *, entries: Any = None, image: Any = None, text: Any = None
    ) -> dict[str, Any] | None:
        """The answer right away when it is cheap (a few rows of exact SHAP on a loaded model
        whose last pooled explanation took under INLINE_BUDGET_S for this many rows), else
        None: the caller then sends the request to the worker pool."""
        if image is not None or text is not None or not isinstance(entries, list):
            return None
        if not 0 < len(entries) <= INLINE_MAX_ROWS:
            return None
        loaded = self.loaded(ref)
        if loaded is None or getattr(loaded.explainer, "method", None) not in INLINE_METHODS:
            return None
        cost = loaded.seconds_per_row
        if cost is None or cost * len(entries) > INLINE_BUDGET_S:  # unmeasured, or a big ensemble
            return None
        result: dict[str, Any] = loaded.explainer.explain(entries)
        return result

    def global_explanations(self, ref: ModelRef) -> dict[str, Any]:
        store = self.store
        record = self.record(ref, store)
        document = store.global_explanations(record)
        if not document:
            raise NotFound(
                f"model {record.id!r} has no global explanations; call "
                "genome_model.explainer.sampleExplanations(data) before saving it"
            )
        return dict(document)

    def status(self) -> dict[str, Any]:
        return {
            "preloaded": self.preloaded.is_set(),
            "cachedModels": len(self.cache),
            "loads": self.cache.loads,
            "workers": self.pool.workers,
            "queue": self.pool.queue,
            "timeoutS": self.pool.timeout_s,
        }

    def preload(self, modules: list[str] | None = None) -> threading.Thread:
        """Import the heavy libraries in the background so the first explanation does not
        pay for them (`AIRGENOME_EXPLAIN_PRELOAD`, comma-separated; `none` turns it off)."""
        names = modules if modules is not None else preload_modules()

        def run() -> None:
            import importlib

            for name in names:
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001, S112 - optional extras may be absent; requests will say so
                    continue
            self.preloaded.set()

        thread = threading.Thread(target=run, name="airgenome-explain-preload", daemon=True)
        thread.start()
        return thread


DEFAULT_PRELOAD = settings.EXPLAIN_PRELOAD_DEFAULT


def _registered_key(canonical_name: str) -> str:
    return f"registered:{canonical_name}"


def _stored_key(store: Any, record: Any) -> str:
    return f"{getattr(store.backend, 'uri', '')}|{record.id}"


def _same_application(ref: ModelRef, record: Any) -> bool:
    return not (ref.application and record.application and record.application != ref.application)


def _check_application(ref: ModelRef, record: Any) -> None:
    if not _same_application(ref, record):
        raise NotFound(
            f"model {ref.canonical_name!r} belongs to application {record.application!r}, "
            f"not {ref.application!r}"
        )


def preload_modules() -> list[str]:
    return settings.unless_none(settings.string_list("explain_preload"))


def in_api_server() -> bool:
    """True in Airflow's API server process (where the plugin serves requests), not in
    the scheduler, DAG processor or task processes that also import the plugin."""
    return "api-server" in sys.argv[1:3]


# What `ModelStore()` reads its location from (airgenome.settings.store_locations).
_STORE_VARIABLES = settings.variables_of(
    ("model_store_uri", "model_artifacts", "evaluation_store_uri", "model_registry_uri", "home")
)


def _default_store() -> Any:
    from airgenome.models.client import ModelStore

    return ModelStore()


_service: ExplainService | None = None
_service_lock = threading.Lock()


def get_service() -> ExplainService:
    """The process-wide service (one cache, one pool) shared by every router."""
    global _service
    with _service_lock:
        if _service is None:
            _service = ExplainService()
            if in_api_server():
                _service.preload()
        return _service


def version_ref(name: str, version: str) -> ModelRef:
    """A ref from URL parts: version is a number, `latest` or `@alias` (the models router's style)."""
    if version.startswith("@"):
        return ModelRef(canonical_name=name, alias=version[1:] or None)
    return ModelRef(canonical_name=name, version=version)
