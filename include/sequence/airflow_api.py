"""The Airflow REST API v2 calls behind uploads: parse now, wait visible, unpause, trigger, runs.

The plugin calls Airflow's public API with the CALLER's own token, so Airflow's
permission checks (per DAG, per run) stay the authority, and the same code works whether
the plugin runs inside the api-server (loopback) or as its own service. Failures become
`AirgenomeError`s with a status the plugin can return as is (never a 500).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from airgenome.errors import AirgenomeError, Unavailable

# A parse request that lands while the DAG processor is mid-parse can be lost (docs/architecture.md):
# re-send it when the DAG is not visible after this long.
RESEND_PARSE_AFTER_S = 2.0
# When, then how often, to look whether a parse of the loader file finished without our DAG.
FIRST_ANCHOR_CHECK_S = 0.6
ANCHOR_CHECK_S = 0.3
# Polling our DAG: fine enough for ~1 s latencies, light on a SQLite metadata DB.
POLL_S = 0.1


@dataclass(frozen=True)
class Anchor:
    """A DAG whose file token triggers a parse of the sequence loader file."""

    dag_id: str
    file_token: str
    in_loader: bool  # defined by the loader file itself (its token is stable: cacheable)


# (Airflow URL, loader file) -> anchor. A file token is a signed (bundle, relative path): it
# does not change while the file defines DAGs; a 404 on it drops the entry. Airflow still
# checks each caller's permission on every parse request.
_ANCHORS: dict[tuple[str, str | None], Anchor] = {}


class AirflowRefused(AirgenomeError):
    """Airflow answered a call with an error; carries Airflow's status (403, 404, 409...)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        # 5xx from Airflow is a bad gateway for our caller, not our own crash.
        self.status_code = status_code if status_code < 500 else 502


@dataclass(frozen=True)
class ParseOutcome:
    requested: bool
    visible: bool
    dag: dict[str, Any] | None
    waited_s: float


def _quote(value: str) -> str:
    return quote(value, safe="")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class AirflowApi:
    """A few REST v2 calls, authenticated as the caller."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, connect=3.0),
            transport=transport,
            trust_env=False,  # loopback: never through a proxy
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(
                f"Airflow's REST API at {self.base_url} did not answer {method} {path}: {error}"
            ) from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowRefused(
                f"Airflow refused {method} {path}: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        return response.json() if response.content else None

    # -- DAGs ------------------------------------------------------------------------------
    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/api/v2/dags/{_quote(dag_id)}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise AirflowRefused(
                f"Airflow refused GET dag {dag_id!r}: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        body: dict[str, Any] = response.json()
        return body

    def any_dag(self, tags: list[str] | None = None, file_name: str | None = None) -> dict[str, Any] | None:
        """A live DAG (with those tags; defined in a file of that name when one is)."""
        params: dict[str, Any] = {"limit": 100 if file_name else 1, "exclude_stale": True}
        if tags:
            params["tags"] = tags
        body = self._call("GET", "/api/v2/dags", params=params)
        dags: list[dict[str, Any]] = body.get("dags") or []
        if file_name:
            same_file = [d for d in dags if str(d.get("fileloc", "")).endswith(f"/{file_name}")]
            dags = same_file or dags
        return dags[0] if dags else None

    def find_anchor(
        self, dag_id: str, loader_tags: list[str] | None = None, loader_file: str | None = None
    ) -> Anchor | None:
        """A DAG whose file token makes a parse request re-read the sequence loader file.

        The DAG's own file if it exists, else any DAG the loader made (same file), else any
        DAG at all: a parse request also makes the DAG processor rescan the bundle.
        """
        dag = self.get_dag(dag_id)
        if dag is None and (loader_tags or loader_file):
            dag = self.any_dag(loader_tags, loader_file)
        if dag is None:
            dag = self.any_dag()
        if dag is None or not isinstance(dag.get("file_token"), str):
            return None
        in_loader = bool(loader_file) and str(dag.get("fileloc", "")).endswith(f"/{loader_file}")
        return Anchor(str(dag["dag_id"]), str(dag["file_token"]), in_loader)

    def parse_token(
        self, dag_id: str, loader_tags: list[str] | None = None, loader_file: str | None = None
    ) -> str | None:
        anchor = self.find_anchor(dag_id, loader_tags, loader_file)
        return anchor.file_token if anchor else None

    def request_parse(self, file_token: str) -> bool:
        """Ask for a parse of the token's file now; False when the token names no DAG file."""
        response = self._request("PUT", f"/api/v2/parseDagFile/{_quote(file_token)}")
        if response.status_code == 404:
            return False
        # 409: a request for this file is already pending (one row per file) — just as good.
        if response.status_code >= 400 and response.status_code != 409:
            raise AirflowRefused(
                f"Airflow refused the parse request: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        return True

    def _request_loader_parse(
        self, dag_id: str, loader_tags: list[str] | None, loader_file: str | None
    ) -> Anchor | None:
        """Send the parse request; the loader file's token is cached (it never changes)."""
        key = (self.base_url, loader_file)
        cached = _ANCHORS.get(key)
        if cached is not None and self.request_parse(cached.file_token):
            return cached
        _ANCHORS.pop(key, None)
        anchor = self.find_anchor(dag_id, loader_tags, loader_file)
        if anchor is None or not self.request_parse(anchor.file_token):
            return None
        if anchor.in_loader:
            _ANCHORS[key] = anchor
        return anchor

    def parse_and_wait(
        self,
        dag_id: str,
        written_at: float,
        timeout_s: float,
        loader_tags: list[str] | None = None,
        loader_file: str | None = None,
    ) -> ParseOutcome:
        """Ask for a parse now and wait until the DAG reflects the file written at ``written_at``.

        A request that lands while the loader file is already being parsed is dropped by the
        DAG processor. When the anchor DAG (same file) shows a parse finished after our request
        but ours is still missing, that parse started before the write: re-send at once;
        otherwise re-send every RESEND_PARSE_AFTER_S.
        """
        started = time.monotonic()
        sent_at = datetime.now(UTC)
        anchor = self._request_loader_parse(dag_id, loader_tags, loader_file)
        requested = anchor is not None
        watch_sibling = anchor is not None and anchor.in_loader and anchor.dag_id != dag_id
        last_sent = time.monotonic()
        next_sibling_check = last_sent + FIRST_ANCHOR_CHECK_S
        since = datetime.fromtimestamp(written_at, UTC)
        while True:
            dag = self.get_dag(dag_id)
            if dag is not None and _reflects(dag, since):
                return ParseOutcome(requested, True, dag, time.monotonic() - started)
            now = time.monotonic()
            if now - started >= timeout_s:
                return ParseOutcome(requested, False, dag, now - started)
            resend = now - last_sent >= RESEND_PARSE_AFTER_S
            if not resend and watch_sibling and anchor is not None and now >= next_sibling_check:
                next_sibling_check = now + ANCHOR_CHECK_S
                sibling = self.get_dag(anchor.dag_id)
                if sibling is not None and _reflects(sibling, sent_at):
                    # Ours may have landed in the same parse after our last look.
                    dag = self.get_dag(dag_id)
                    if dag is not None and _reflects(dag, since):
                        return ParseOutcome(requested, True, dag, time.monotonic() - started)
                    resend = True
            if resend:
                sent_at = datetime.now(UTC)
                anchor = self._request_loader_parse(dag_id, loader_tags, loader_file) or anchor
                requested = requested or anchor is not None
                watch_sibling = anchor is not None and anchor.in_loader and anchor.dag_id != dag_id
                last_sent = time.monotonic()
                next_sibling_check = last_sent + FIRST_ANCHOR_CHECK_S
            time.sleep(POLL_S)

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{_quote(dag_id)}", json={"is_paused": False})

    # -- runs ------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # On SQLite a run starts only once run_after <= now at whole seconds (docs/architecture.md).
        run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        body = {"logical_date": None, "run_after": run_after, "conf": dict(conf or {})}
        run: dict[str, Any] = self._call(
            "POST", f"/api/v2/dags/{_quote(dag_id)}/dagRuns", json=body
        )
        return run

    def recent_runs(self, dag_id: str, limit: int = 10) -> list[dict[str, Any]]:
        response = self._request(
            "GET",
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns",
            params={"order_by": "-run_after", "limit": limit},
        )
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise AirflowRefused(
                f"Airflow refused the runs of {dag_id!r}: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        runs: list[dict[str, Any]] = response.json().get("dag_runs") or []
        return runs

    def latest_runs(self, dag_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The newest run of each DAG, in one call."""
        if not dag_ids:
            return {}
        body = self._call(
            "POST",
            "/api/v2/dags/~/dagRuns/list",
            json={"dag_ids": dag_ids, "order_by": "-run_after", "page_limit": 100},
        )
        runs: list[dict[str, Any]] = body.get("dag_runs") or []
        latest: dict[str, dict[str, Any]] = {}
        for run in runs:
            latest.setdefault(run["dag_id"], run)
        if len(runs) >= 100:  # a page of busy DAGs can hide a quiet DAG's older run
            for dag_id in dag_ids:
                if dag_id not in latest:
                    older = self.recent_runs(dag_id, limit=1)
                    if older:
                        latest[dag_id] = older[0]
        return latest

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self._call(
            "GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances"
        )
        instances: list[dict[str, Any]] = body.get("task_instances") or []
        return instances

    # -- assets (lineage) ------------------------------------------------------------------
    def asset_events(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Asset events, newest first (filters: source_dag_id, source_run_id, source_task_id,
        name_pattern, asset_id, ...)."""
        params = {"limit": limit, "order_by": "-timestamp", **{k: v for k, v in filters.items() if v is not None}}
        body = self._call("GET", "/api/v2/assets/events", params=params)
        events: list[dict[str, Any]] = body.get("asset_events") or []
        return events

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events that triggered a run (asset-scheduled DAGs)."""
        response = self._request(
            "GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/upstreamAssetEvents"
        )
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise AirflowRefused(
                f"Airflow refused the upstream asset events of {run_id!r}: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        events: list[dict[str, Any]] = response.json().get("asset_events") or []
        return events

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise AirflowRefused(
                f"Airflow refused run {run_id!r} of {dag_id!r}: {response.status_code} {_detail(response)}",
                response.status_code,
            )
        run: dict[str, Any] = response.json()
        return run


def _reflects(dag: Mapping[str, Any], since: datetime) -> bool:
    """The DAG is live and was parsed after the file was written."""
    if dag.get("is_stale"):
        return False
    parsed = _parse_time(dag.get("last_parsed_time"))
    return parsed is not None and parsed >= since


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]
