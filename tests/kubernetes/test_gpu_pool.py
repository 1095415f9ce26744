"""The GPU pool: slot count from the machine or settings, kept in sync through Airflow's REST API."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airgenome.embedded.pools import (
    PoolError,
    count_visible_gpus,
    ensure_gpu_pool,
    gpu_pool_name,
    gpu_slots,
)
from airgenome.errors import InvalidInput
from tests.conftest import free_port
from tests.waiting import wait_until


def _fake_nvidia_smi(folder: Path, listing: str, code: int = 0) -> Path:
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\n[ \"$1\" = \"-L\" ] || exit 2\n/bin/cat <<'END'\n{listing}END\nexit {code}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


def test_gpu_slots_counts_gpus_listed_by_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = "GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)\n"
    _fake_nvidia_smi(tmp_path, listing)
    monkeypatch.delenv("AIRGENOME_GPU_SLOTS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_slots() == 2


def test_gpu_slots_is_zero_without_nvidia_smi_or_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRGENOME_GPU_SLOTS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    assert gpu_slots() == 0
    broken = _fake_nvidia_smi(tmp_path, "GPU 0: listed before a failure\n", code=9)
    assert count_visible_gpus(str(broken)) == 0


def test_gpu_slots_setting_overrides_and_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "4")
    assert gpu_slots() == 4
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "four")
    with pytest.raises(InvalidInput, match="AIRGENOME_GPU_SLOTS: 'four' is not a whole number >= 0"):
        gpu_slots()
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "-2")
    with pytest.raises(InvalidInput, match="AIRGENOME_GPU_SLOTS: '-2'"):
        gpu_slots()


@pytest.fixture(scope="module")
def airflow_api(airflow_metadata: Path) -> Iterator[tuple[Any, str]]:
    """Airflow's own REST API app in-process (real routes, auth manager and metadata DB)."""
    from airflow.api_fastapi.app import create_app, init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    app = create_app(apps="core")
    token = init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    yield app, token


def test_ensure_gpu_pool_creates_then_leaves_then_resizes(airflow_api: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    app, token = airflow_api
    monkeypatch.setenv("AIRGENOME_GPU_POOL", "gpu-test-a")
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "2")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        first = ensure_gpu_pool(client)
        again = ensure_gpu_pool(client)
        resized = ensure_gpu_pool(client, slots=8)
        stored = client.get("/api/v2/pools/gpu-test-a").json()
    assert (first.name, first.slots, first.action) == ("gpu-test-a", 2, "created")
    assert (again.slots, again.action) == (2, "unchanged")
    assert (resized.slots, resized.action) == (8, "updated")
    assert (stored["name"], stored["slots"], stored["include_deferred"]) == ("gpu-test-a", 8, False)
    assert gpu_pool_name() == "gpu-test-a"


def test_ensure_gpu_pool_by_url_and_token_over_http(airflow_api: tuple[Any, str]) -> None:
    """The call `airgenome up` makes: a base URL and a JWT, over a real socket."""
    import uvicorn

    app, token = airflow_api
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout_s=30, what="the in-process Airflow API to listen", every_s=0.05)
        url = f"http://127.0.0.1:{port}"
        state = ensure_gpu_pool(url, token, name="gpu-test-b", slots=0)
        assert (state.name, state.slots, state.action) == ("gpu-test-b", 0, "created")
        with pytest.raises(PoolError, match=r"GET /api/v2/pools/gpu-test-c: HTTP 403 .*Invalid JWT token"):
            ensure_gpu_pool(url, "not-a-token", name="gpu-test-c", slots=1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
