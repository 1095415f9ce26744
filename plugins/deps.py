"""Authentication and permission dependencies for every plugin route.

Airflow mounts plugin apps with no authentication at all, so the app factory puts
`authenticated_user` on the whole app and each route adds the permission it needs.
Airflow's own `get_user` also accepts the UI's `_token` cookie; state-changing requests
that rely on the cookie must come from our own origin (cross-site request guard).

Who the caller is comes from Airflow's `get_user`, except in an app that sets
``app.state.token_check`` (the standalone explainer: `airgenome.plugins.tokens`, the same
checks without a metadata-DB query per request). A request that names no DAG is authorized
with Airflow's own `requires_access_dag` check on the event loop when the auth manager is
Airflow's SimpleAuthManager (an in-memory role comparison: no thread hop); otherwise, or
when a ``dag_id`` is named (a metadata-DB lookup), in the thread pool as Airflow runs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import (
    bearer_scheme,
    get_user,
    oauth2_scheme,
    requires_access_dag,
)
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Auth managers whose DAG permission check is a pure in-memory comparison (no I/O).
IN_MEMORY_AUTH_MANAGERS = frozenset(
    {"airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"}
)

TokenCheck = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[BaseUser]]


async def request_user(
    request: Request,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> BaseUser:
    """Airflow's `get_user`, or the app's own ``state.token_check`` where it sets one."""
    check: TokenCheck | None = getattr(request.app.state, "token_check", None)
    if check is not None:
        return await check(request, bearer)
    return await get_user(request, oauth_token, bearer)


async def authenticated_user(
    request: Request, user: Annotated[BaseUser, Depends(request_user)]
) -> BaseUser:
    if request.method not in SAFE_METHODS and not _has_bearer_token(request):
        _require_same_origin(request)
    return user


def _has_bearer_token(request: Request) -> bool:
    """Exactly when Airflow's `get_user` ignores the cookie: a non-empty Bearer credential.

    Any other Authorization header (a browser re-sends cached Basic credentials cross-site,
    or an empty "Bearer ") leaves the cookie as the caller's identity, so the guard applies.
    """
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    return scheme.lower() == "bearer" and bool(credentials)


def _require_same_origin(request: Request) -> None:
    origin = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host")
    if not origin or not host:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "cookie-authenticated writes need an Origin header from this site",
        )
    # "http://host:port/..." -> "host:port"
    origin_host = origin.split("://", 1)[-1].split("/", 1)[0]
    if origin_host != host:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-site request from {origin_host}")


CurrentUser = Annotated[BaseUser, Depends(authenticated_user)]

Method = Literal["GET", "POST", "PUT", "DELETE"]


def dag_access(method: Method, entity: DagAccessEntity | None = None) -> object:
    """Airflow's own DAG permission check (`requires_access_dag`), as a route dependency."""
    airflow_check = requires_access_dag(method, entity)

    async def check(request: Request, user: Annotated[BaseUser, Depends(request_user)]) -> None:
        names_dag = request.path_params.get("dag_id") or request.query_params.get("dag_id")
        if not names_dag and _in_memory_auth_manager():
            airflow_check(request, user)
        else:
            await run_in_threadpool(airflow_check, request, user)

    return Depends(check)


def _in_memory_auth_manager() -> bool:
    manager = type(get_auth_manager())
    return f"{manager.__module__}.{manager.__qualname__}" in IN_MEMORY_AUTH_MANAGERS


CanReadDags = dag_access("GET")
CanEditDags = dag_access("PUT")
CanTriggerDags = dag_access("POST", DagAccessEntity.RUN)
