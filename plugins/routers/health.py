"""Health of the plugin and of the stores it serves."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from airgenome import __version__
from airgenome.plugins.deps import CurrentUser

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    user: str


@router.get("/api/v1/health", response_model=Health)
async def health(user: CurrentUser) -> Health:  # no I/O: no hop to a worker thread
    return Health(status="ok", version=__version__, user=user.get_name())
