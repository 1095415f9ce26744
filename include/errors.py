"""One error type that knows its HTTP status (MLflow-style), used by every layer.

Core code raises these with a field path in the message; the plugin maps them to
responses, the CLI to exit codes. Nothing here imports Airflow or FastAPI.
"""

from __future__ import annotations

from typing import Any


class AirgenomeError(Exception):
    status_code = 400

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.message}
        if self.details:
            body["errors"] = self.details
        return body


class InvalidInput(AirgenomeError):
    """Bad user input (a spec, a request body, SDK arguments): 422."""

    status_code = 422


class NotFound(AirgenomeError):
    status_code = 404


class Conflict(AirgenomeError):
    status_code = 409


class PayloadTooLarge(AirgenomeError):
    status_code = 413


class Unavailable(AirgenomeError):
    """Busy or over the time limit; the client may retry: 503."""

    status_code = 503
