"""Airflow's token check for the standalone explainer, without a metadata-DB query per request.

Inside Airflow's API server the plugin uses Airflow's own ``get_user``. The standalone
``airgenome explainer`` checks the same things in the same order, with the same answers:

1. the credential: a non-empty ``Authorization: Bearer`` value, else the ``_token`` cookie;
   none → 401 ``Not authenticated``;
2. the JWT, verified locally by Airflow's own validator of the configured auth manager (the
   ``[api_auth]`` secret or JWKS, algorithm, audience, issuer, leeway; ``exp``, ``iat`` and
   ``nbf`` required): expired → 401 ``Token Expired``, anything else invalid → 403
   ``Invalid JWT token``;
3. revocation: a token whose ``jti`` Airflow has revoked (logout) → 403 ``Invalid JWT token``;
4. the user, built by the auth manager from the claims (→ 403 if it cannot be).

Only step 3 differs in *how*: Airflow asks the metadata DB on every request (0.4 ms median,
4-5 ms p95 on SQLite on a loaded machine: most of an authenticated no-op's cost). Here one
query loads every revoked, not yet expired ``jti`` into a set, which answers for at most
``explain_token_revocation_ttl_s`` seconds (default 2) counted from when that query started:
a token revoked at time T is refused by every request after T + TTL. Past half the TTL, a
request starts a refresh in the background; past the TTL, requests wait for a fresh set
(one query, off the event loop), and a query that fails fails the request as Airflow's would.
``0`` asks the DB on every request, exactly as Airflow does.

An auth manager that overrides ``get_user_from_token`` (its own checks) is always called
as is: the shortcut applies only to Airflow's base implementation.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN, BaseAuthManager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from jwt import ExpiredSignatureError, InvalidTokenError
from starlette.concurrency import run_in_threadpool

from airgenome import settings

log = logging.getLogger(__name__)

# Revoked tokens whose `exp` passed more than this before a snapshot are left out of it:
# the JWT check already refuses them (Airflow's leeway is added on top).
EXPIRED_MARGIN_S = 60.0


def load_revoked(expired_before: datetime) -> frozenset[str]:
    """Every revoked ``jti`` whose token expires after ``expired_before`` (one query)."""
    from airflow.models.revoked_token import RevokedToken
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return frozenset(session.scalars(select(RevokedToken.jti).where(RevokedToken.exp > expired_before)))


def revoked_in_db(jti: str) -> bool:
    """Airflow's own per-request lookup (used when the TTL is 0)."""
    from airflow.models.revoked_token import RevokedToken

    return bool(RevokedToken.is_revoked(jti))


class RevokedTokens:
    """The revoked ``jti`` set, trusted for ``ttl_s`` seconds from when its query started."""

    def __init__(
        self,
        ttl_s: float,
        *,
        leeway_s: float = 0.0,
        load: Callable[[datetime], frozenset[str]] = load_revoked,
        lookup: Callable[[str], bool] = revoked_in_db,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.leeway_s = leeway_s
        self._load = load
        self._lookup = lookup
        self._clock = clock
        self._now = now
        self._background = background or _daemon_thread
        # (clock() when its query started, the revoked jtis): replaced whole, read whole.
        self._snapshot: tuple[float, frozenset[str]] = (-math.inf, frozenset())
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        self.loads = 0

    async def is_revoked(self, jti: str) -> bool:
        if self.ttl_s <= 0:
            return self._lookup(jti)  # as Airflow's get_user_from_token does it
        loaded_at, jtis = self._snapshot
        age = self._clock() - loaded_at
        if age >= self.ttl_s:
            await run_in_threadpool(self.refresh_if_stale)
            loaded_at, jtis = self._snapshot
        elif age >= self.ttl_s / 2:
            self._start_background_refresh()
        return jti in jtis

    def refresh_if_stale(self) -> None:
        """Load a new snapshot unless another thread did while this one waited."""
        with self._refresh_lock:
            if self._clock() - self._snapshot[0] >= self.ttl_s:
                self._refresh()

    def _refresh(self) -> None:
        started = self._clock()
        expired_before = self._now() - timedelta(seconds=self.leeway_s + EXPIRED_MARGIN_S)
        self._snapshot = (started, self._load(expired_before))
        self.loads += 1

    def _start_background_refresh(self) -> None:
        with self._refresh_lock:
            if self._refreshing:
                return
            self._refreshing = True
        self._background(self._refresh_quietly)

    def _refresh_quietly(self) -> None:
        try:
            with self._refresh_lock:
                self._refresh()
        except Exception:  # the snapshot ages out; the next request past the TTL retries and fails loudly
            log.warning("refreshing the revoked-token snapshot failed", exc_info=True)
        finally:
            self._refreshing = False


def _daemon_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="airgenome-revoked-tokens", daemon=True).start()


class TokenCheck:
    """Airflow's `get_user` + `BaseAuthManager.get_user_from_token`, with the revocation set
    above; an app's ``state.token_check`` (`airgenome.plugins.deps.request_user` calls it)."""

    def __init__(self, revoked: RevokedTokens | None = None) -> None:
        self._revoked = revoked

    @property
    def revoked(self) -> RevokedTokens:
        if self._revoked is None:
            leeway = float(getattr(_validator(get_auth_manager()), "leeway", 0) or 0)
            ttl = settings.number("explain_token_revocation_ttl_s")
            self._revoked = RevokedTokens(ttl if ttl is not None else 0.0, leeway_s=leeway)
        return self._revoked

    async def __call__(self, request: Request, bearer: HTTPAuthorizationCredentials | None) -> BaseUser:
        # An explicit Bearer credential wins over the cookie, as in Airflow's get_user (no
        # Airflow middleware runs here, so no request.state.user to honour).
        if bearer and bearer.scheme.lower() == "bearer":
            token: str | None = bearer.credentials
        else:
            token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        if not token:
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Not authenticated")
        try:
            return await self.user(token)
        except ExpiredSignatureError:
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Token Expired") from None
        except InvalidTokenError:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Invalid JWT token") from None

    async def user(self, token: str) -> BaseUser:
        manager = get_auth_manager()
        if type(manager).get_user_from_token is not BaseAuthManager.get_user_from_token:
            return await manager.get_user_from_token(token)  # the auth manager's own checks
        try:
            payload: dict[str, Any] = await _validator(manager).avalidated_claims(token)
        except InvalidTokenError as error:
            log.error("JWT token is not valid: %s", error)
            raise
        if (jti := payload.get("jti")) and await self.revoked.is_revoked(jti):
            raise InvalidTokenError("Token has been revoked")
        try:
            return manager.deserialize_user(payload)
        except (ValueError, KeyError) as error:
            log.error("Couldn't deserialize user from token, JWT token is not valid: %s", error)
            raise InvalidTokenError(str(error)) from error


def _validator(manager: BaseAuthManager[Any]) -> Any:
    # The validator the auth manager itself uses (cached by Airflow): same key, algorithm,
    # audience, issuer and leeway as the API server's.
    return manager._get_token_validator()
