"""Authentication and permission dependencies for every plugin route.

Airflow mounts plugin apps with no authentication at all, so the app factory puts
`authenticated_user` on the whole app and each route adds the permission it needs.
Airflow's own `get_user` also accepts the UI's `_token` cookie; state-changing requests
that rely on the cookie must come from our own origin (cross-site request guard).
"""

from __future__ import annotations

from typing import Annotated, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, HTTPException, Request, status
from fastapi.security.utils import get_authorization_scheme_param

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticated_user(
    request: Request, user: Annotated[BaseUser, Depends(get_user)]
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
    """Airflow's own DAG permission check, usable as a route dependency."""
    return Depends(requires_access_dag(method, entity))


CanReadDags = dag_access("GET")
CanEditDags = dag_access("PUT")
CanTriggerDags = dag_access("POST", DagAccessEntity.RUN)
