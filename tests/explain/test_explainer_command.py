"""`airgenome explainer --port N`: the same explain API on its own, with Airflow's tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.conftest import free_port
from tests.explain import models
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def explainer(plugin_client, tabular_models):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "airgenome.cli.main", "explainer", "--port", str(port), "--workers", "1"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(f"explainer exited: {process.stdout.read().decode()[-2000:]}")
        try:
            httpx.get(f"{url}/api/v1/health", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        wait_until(answering, timeout_s=90, what="the standalone explainer to answer", every_s=0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)


def test_standalone_explainer_accepts_airflow_tokens(plugin_client, explainer) -> None:
    body = {"canonicalName": "/tests/explain/forest", "entries": models.tabular_data(seed=4)[0][:2].tolist()}
    anonymous = httpx.post(f"{explainer}/api/v1/explain", json=body, timeout=120)
    assert anonymous.status_code == 401
    token = plugin_client.tokens["viewer"]
    answer = httpx.post(
        f"{explainer}/v1.0/genome/routing/explain",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    in_plugin = plugin_client.client.post(
        "/api/v1/explain", json=body, headers=plugin_client.headers("viewer")
    )
    assert answer.json() == in_plugin.json()


def test_standalone_explainer_reports_bad_input(plugin_client, explainer) -> None:
    token = plugin_client.tokens["admin"]
    response = httpx.post(
        f"{explainer}/api/v1/explain",
        json={"canonicalName": "/tests/explain/forest", "entries": [[1, 2]]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "entries[0]: has 2 values, the model expects 8 features"


def test_port_is_validated() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airgenome.cli.main", "explainer", "--port", "80"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "80 is not a usable port (1024-65535)" in result.stderr


def _nice(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])


def test_the_standalone_explainer_runs_below_airflow_in_priority(explainer) -> None:
    """Nice 5 by default: on a machine shared with Airflow, the control plane gets the CPU first."""
    port = explainer.rsplit(":", 1)[1]
    pids = [
        int(entry) for entry in os.listdir("/proc")
        if entry.isdigit() and _cmdline(entry)[-5:] == ["explainer", "--port", port, "--workers", "1"]
    ]
    assert len(pids) == 1
    assert _nice(pids[0]) == max(5, _nice(os.getpid()))  # a process can lower its priority, never raise it


def _cmdline(pid: str) -> list[str]:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")[:-1]
    except OSError:
        return []


@pytest.mark.parametrize(("value", "expected"), [("0", "0"), ("7", "7"), ("25", "AIRGENOME_EXPLAINER_NICE: 25 is above 19")])
def test_the_explainer_nice_setting_is_applied_or_refused_by_name(value: str, expected: str) -> None:
    probe = (
        "from airgenome.embedded.explainer import lower_priority\n"
        "from airgenome.settings import SettingError\n"
        "try:\n    print(lower_priority())\nexcept SettingError as error:\n    print(error)\n"
    )
    env = {**os.environ, "AIRGENOME_EXPLAINER_NICE": value}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1].startswith(expected)
