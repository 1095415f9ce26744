"""Keep store credentials out of task logs, in both execution modes.

The store URIs a step receives can carry database passwords (``postgresql://u:PW@host/db``).
`mask_store_secrets` registers those passwords with Airflow's secrets masker, which replaces
them with ``***`` in every task log line; `redact` does the same for text this package
writes itself before it reaches any logger.
"""

from __future__ import annotations

from collections.abc import Iterable

from airgenome import settings

MASK = "***"


def store_secrets() -> list[str]:
    """The passwords inside the configured store URIs."""
    return settings.store_locations().secrets()


def mask_store_secrets(secrets: Iterable[str] | None = None) -> list[str]:
    """Register the store passwords with Airflow's masker; returns them."""
    found = list(store_secrets() if secrets is None else secrets)
    if found:
        from airflow.sdk.log import mask_secret

        for secret in found:
            mask_secret(secret)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
