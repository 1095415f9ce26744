"""The Airflow pool of GPUs: GPU steps take ``pool_slots`` = their GPU count from it.

`airgenome up` sizes the pool to the GPUs this machine has (or ``AIRGENOME_GPU_SLOTS``),
through Airflow's REST API v2 so it works the same against any Airflow deployment.
With no GPU the pool still exists, with 0 slots: GPU steps then wait visibly in the
UI instead of failing to resolve a pool.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airgenome import settings
from airgenome.errors import AirgenomeError, InvalidInput
from airgenome.settings import DEFAULT_GPU_POOL

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_GPU_POOL", "PoolError", "PoolState", "count_visible_gpus", "ensure_gpu_pool",
           "gpu_pool_name", "gpu_slots"]
POOL_DESCRIPTION = "GPUs for airgenome GPU steps (one slot per GPU)"


class PoolError(AirgenomeError):
    """The Airflow REST API refused or failed a pool call."""


def gpu_pool_name() -> str:
    return settings.string("gpu_pool") or DEFAULT_GPU_POOL


def count_visible_gpus(nvidia_smi: str | None = None) -> int:
    """GPUs listed by ``nvidia-smi -L`` (one ``GPU n: ...`` line each); 0 without the tool."""
    tool = nvidia_smi or shutil.which("nvidia-smi")
    if not tool:
        return 0
    try:
        listed = subprocess.run(
            [tool, "-L"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def gpu_slots() -> int:
    """``AIRGENOME_GPU_SLOTS`` if set, else the GPUs ``nvidia-smi`` sees, else 0."""
    configured = settings.integer("gpu_slots")
    return count_visible_gpus() if configured is None else configured


@dataclass(frozen=True)
class PoolState:
    name: str
    slots: int
    action: str  # "created", "updated" or "unchanged"


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise PoolError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def ensure_gpu_pool(
    api: str | httpx.Client,
    token: str | None = None,
    *,
    name: str | None = None,
    slots: int | None = None,
) -> PoolState:
    """Create the GPU pool, or resize it when its slots differ; idempotent.

    ``api`` is the Airflow base URL (with ``token``, a JWT from ``/auth/token``) or an
    ``httpx.Client`` already pointed at it and authenticated.
    """
    import httpx

    pool = name or gpu_pool_name()
    wanted = gpu_slots() if slots is None else slots
    if wanted < 0:
        raise InvalidInput(f"slots: {wanted} is not a whole number >= 0")
    if isinstance(api, str):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=api, headers=headers, timeout=15.0) as client:
            return _ensure(client, pool, wanted)
    return _ensure(api, pool, wanted)


def _ensure(client: httpx.Client, pool: str, wanted: int) -> PoolState:
    path = f"/api/v2/pools/{pool}"
    current = client.get(path)
    if current.status_code == 404:
        body = {"name": pool, "slots": wanted, "description": POOL_DESCRIPTION, "include_deferred": False}
        created = _check(client.post("/api/v2/pools", json=body), f"POST /api/v2/pools ({pool})")
        return PoolState(name=pool, slots=int(created["slots"]), action="created")
    existing = _check(current, f"GET {path}")
    if int(existing["slots"]) == wanted:
        return PoolState(name=pool, slots=wanted, action="unchanged")
    # The route validates a whole pool body even when update_mask limits the change to slots.
    body = {"pool": pool, "slots": wanted, "include_deferred": bool(existing.get("include_deferred"))}
    updated = _check(client.patch(path, params={"update_mask": "slots"}, json=body), f"PATCH {path}")
    return PoolState(name=pool, slots=int(updated["slots"]), action="updated")
