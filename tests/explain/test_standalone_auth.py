"""The standalone explainer's token check (`airgenome.plugins.tokens`) answers exactly as
Airflow's own `get_user` does, with revocation enforced within its documented bound.

In-process: Airflow's real SimpleAuthManager, real JWTs and the test metadata DB; the
revocation snapshot gets a fake clock, so nothing here waits or reads wall-clock time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from airgenome.plugins.routers.explain import standalone_app
from airgenome.plugins.tokens import EXPIRED_MARGIN_S, RevokedTokens, TokenCheck

HEALTH = "/api/v1/health"  # signed-in user only
STATUS = "/api/v1/explain/status"  # + DAG read permission (the explain router's)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Deferred:
    """Runs "background" refreshes only when the test says so."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def _manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def _token(role: str | None = "viewer", name: str = "viewer", **kwargs: Any) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(_manager().generate_jwt(SimpleAuthManagerUser(username=name, role=role), **kwargs))


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _secret() -> str:
    return str(_manager()._get_token_validator().secret_key)


@pytest.fixture(scope="module")
def apps(plugin_client) -> dict[str, TestClient]:
    """The standalone app with the new check, and with Airflow's own `get_user` (before)."""
    before = standalone_app()
    before.state.token_check = None  # airgenome.plugins.deps.request_user: Airflow's get_user
    return {"standalone": TestClient(standalone_app()), "airflow get_user": TestClient(before)}


def _answers(apps: dict[str, TestClient], path: str, **kwargs: Any) -> dict[str, tuple[int, Any]]:
    out = {}
    for name, client in apps.items():
        response = client.get(path, **kwargs)
        out[name] = (response.status_code, response.json())
    return out


def _bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def _cases() -> dict[str, Callable[[], dict[str, Any]]]:
    def resigned(**changes: Any) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            claims = {**_claims(_token()), **changes}
            return _bearer(jwt.encode(claims, _secret(), algorithm="HS512"))

        return make

    return {
        "no credential": lambda: {},
        "empty bearer": lambda: {"headers": {"Authorization": "Bearer "}},
        "basic credentials": lambda: {"headers": {"Authorization": "Basic dXNlcjpwdw=="}},
        "not a JWT": lambda: _bearer("nope"),
        "expired": lambda: _bearer(_token(expiration_time_in_seconds=-120)),
        "wrong signature": lambda: _bearer(
            jwt.encode(_claims(_token()), "another-secret-" + "y" * 64, algorithm="HS512")
        ),
        "unsigned (alg none)": lambda: _bearer(jwt.encode(_claims(_token()), None, algorithm="none")),
        "other algorithm (HS256)": lambda: _bearer(jwt.encode(_claims(_token()), _secret(), algorithm="HS256")),
        "wrong audience": resigned(aud="someone-else"),
        "not yet valid": resigned(nbf=int(time.time()) + 3600),
        "no role claim": resigned(role=None, sub="viewer"),
        "no subject": lambda: _bearer(
            jwt.encode({k: v for k, v in _claims(_token()).items() if k != "sub"}, _secret(), algorithm="HS512")
        ),
        "viewer": lambda: _bearer(_token()),
        "viewer by cookie": lambda: {"cookies": {"_token": _token()}},
        "bearer wins over the cookie": lambda: {**_bearer("nope"), "cookies": {"_token": _token()}},
        "no role (no permission)": lambda: _bearer(_token(role=None, name="nobody")),
    }


@pytest.mark.parametrize("path", [HEALTH, STATUS])
@pytest.mark.parametrize("case", list(_cases()))
def test_answers_exactly_as_airflow_get_user(apps, case: str, path: str) -> None:
    answers = _answers(apps, path, **_cases()[case]())
    assert answers["standalone"] == answers["airflow get_user"], answers


@pytest.mark.parametrize(
    ("case", "status", "detail"),
    [
        ("no credential", 401, "Not authenticated"),
        ("expired", 401, "Token Expired"),
        ("wrong signature", 403, "Invalid JWT token"),
        ("unsigned (alg none)", 403, "Invalid JWT token"),
        ("wrong audience", 403, "Invalid JWT token"),
        ("no subject", 403, "Invalid JWT token"),
        ("bearer wins over the cookie", 403, "Invalid JWT token"),
    ],
)
def test_refusals(apps, case: str, status: int, detail: str) -> None:
    response = apps["standalone"].get(HEALTH, **_cases()[case]())
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_a_user_without_dag_read_is_forbidden(apps) -> None:
    kwargs = _cases()["no role (no permission)"]()
    assert apps["standalone"].get(HEALTH, **kwargs).status_code == 200  # signed in
    response = apps["standalone"].get(STATUS, **kwargs)
    assert (response.status_code, response.json()) == (403, {"detail": "Forbidden"})
    response = apps["standalone"].post("/api/v1/explain", json={"canonicalName": "/x", "entries": [[1]]}, **kwargs)
    assert (response.status_code, response.json()) == (403, {"detail": "Forbidden"})


def test_a_revoked_token_is_refused_within_the_bound(plugin_client, apps) -> None:
    clock, background = FakeClock(), Deferred()
    revoked = RevokedTokens(2.0, clock=clock, background=background)
    app = TestClient(standalone_app(TokenCheck(revoked)))
    token = _token(name="leaving")
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    assert revoked.loads == 1

    _manager().revoke_token(token)  # what Airflow's logout does
    assert apps["airflow get_user"].get(HEALTH, **_bearer(token)).status_code == 403  # at once

    clock.now += 0.9  # younger than half the bound: the snapshot answers, no query
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    assert (revoked.loads, background.jobs) == (1, [])

    clock.now += 1.1  # the bound itself: a fresh snapshot before answering
    response = app.get(HEALTH, **_bearer(token))
    assert (response.status_code, response.json()) == (403, {"detail": "Invalid JWT token"})
    assert revoked.loads == 2
    # Another user's token is unaffected.
    assert app.get(HEALTH, **_bearer(_token())).status_code == 200


def test_a_background_refresh_sees_a_revocation_before_the_bound(plugin_client) -> None:
    clock, background = FakeClock(), Deferred()
    revoked = RevokedTokens(2.0, clock=clock, background=background)
    app = TestClient(standalone_app(TokenCheck(revoked)))
    token = _token(name="leaving-too")
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    _manager().revoke_token(token)
    clock.now += 1.2  # past half the bound: answered from the snapshot, a refresh starts
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    assert len(background.jobs) == 1  # one refresh at a time
    background.run()
    assert app.get(HEALTH, **_bearer(token)).status_code == 403
    assert revoked.loads == 2


def test_ttl_zero_asks_the_database_every_time(plugin_client) -> None:
    revoked = RevokedTokens(0.0, clock=FakeClock())
    app = TestClient(standalone_app(TokenCheck(revoked)))
    token = _token(name="leaving-now")
    assert app.get(HEALTH, **_bearer(token)).status_code == 200
    _manager().revoke_token(token)
    assert app.get(HEALTH, **_bearer(token)).status_code == 403
    assert revoked.loads == 0


# ---- the snapshot on its own (no DB) ------------------------------------------------------


def _snapshot(ttl: float, sets: list[frozenset[str]], **kwargs: Any) -> tuple[RevokedTokens, FakeClock, list[Any]]:
    clock = FakeClock()
    asked: list[Any] = []

    def load(expired_before: datetime) -> frozenset[str]:
        asked.append(expired_before)
        clock.now += 0.5  # the query takes time: the snapshot's age counts from its start
        return sets[min(len(asked) - 1, len(sets) - 1)]

    return RevokedTokens(ttl, load=load, clock=clock, **kwargs), clock, asked


def test_snapshot_age_counts_from_when_its_query_started() -> None:
    revoked, clock, asked = _snapshot(2.0, [frozenset(), frozenset({"a"})], background=Deferred())
    assert asyncio.run(revoked.is_revoked("a")) is False  # query from t=1000 to 1000.5
    clock.now = 1000 + 2.0  # 2 s after the query *started*: stale, although loaded 1.5 s ago
    assert asyncio.run(revoked.is_revoked("a")) is True
    assert len(asked) == 2


def test_snapshot_keeps_tokens_jwt_still_accepts() -> None:
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    revoked, _, asked = _snapshot(2.0, [frozenset()], leeway_s=10, now=lambda: fixed)
    asyncio.run(revoked.is_revoked("a"))
    assert asked == [fixed - timedelta(seconds=10 + EXPIRED_MARGIN_S)]


def test_a_failed_background_refresh_fails_the_request_past_the_bound() -> None:
    background = Deferred()
    calls = {"n": 0}
    clock = FakeClock()

    def load(expired_before: datetime) -> frozenset[str]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("metadata DB unreachable")
        return frozenset()

    revoked = RevokedTokens(2.0, load=load, clock=clock, background=background)
    assert asyncio.run(revoked.is_revoked("a")) is False
    clock.now += 1.5
    assert asyncio.run(revoked.is_revoked("a")) is False
    background.run()  # fails, logged; the snapshot keeps ageing
    clock.now += 0.5
    with pytest.raises(RuntimeError, match="unreachable"):
        asyncio.run(revoked.is_revoked("a"))
