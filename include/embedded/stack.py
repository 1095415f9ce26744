"""Start, inspect and stop the embedded Airflow stack, by PID only.

`airflow standalone` binds 0.0.0.0 and leaves children behind on SIGTERM, so we start the
four components ourselves, each in its own session (process group), bound to 127.0.0.1,
and stop them by signalling exactly those process groups.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from airgenome.embedded import http
from airgenome.embedded.config import DEFAULT_PORT, EmbeddedPaths, airflow_env
from airgenome.embedded.pools import PoolError, ensure_gpu_pool, gpu_slots
from airgenome.settings import without_airflow_secrets

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["-m", "airflow", "api-server", "--host", "127.0.0.1"],
    "scheduler": ["-m", "airflow", "scheduler", "--skip-serve-logs"],
    "dag-processor": ["-m", "airflow", "dag-processor"],
    "triggerer": ["-m", "airflow", "triggerer", "--skip-serve-logs"],
    # Forks local component steps from preloaded libraries (airgenome.components.warm); it
    # runs without Airflow's configuration or secrets, like the steps it starts.
    "warm-runtime": ["-m", "airgenome.components.warm"],
}
# The API server is healthy 30-60 s after start on an idle 2-CPU machine; measured over 200 s
# when a second stack starts beside a busy one (the suite does), so wait generously: a stack
# that never comes up still fails with its logs named.
HEALTH_TIMEOUT_S = 420.0

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A stack operation failed; the message says what to do."""


@dataclass
class StackState:
    port: int
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def validate_port(port: int) -> int:
    if not 1024 <= port <= 65535:
        raise StackError(f"--port: {port} is not a usable port (1024-65535)")
    return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedStack:
    """The embedded Airflow under one AIRGENOME_HOME."""

    def __init__(self, home: Path, progress: Progress | None = None) -> None:
        self.paths = EmbeddedPaths(home)
        self._progress = progress or (lambda message: None)

    @property
    def progress(self) -> Progress:
        """Where this stack reports what it does (the CLI's progress lines)."""
        return self._progress

    # -- state -------------------------------------------------------------------------
    def load_state(self) -> StackState | None:
        try:
            raw = json.loads(self.paths.state_file.read_text())
        except (OSError, ValueError):
            return None
        return StackState(port=int(raw["port"]), pids=dict(raw["pids"]), started_at=raw["started_at"])

    def _save_state(self, state: StackState) -> None:
        self.paths.home.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        os.replace(tmp, self.paths.state_file)

    def env(self, port: int, gpu_slots: int | None = None) -> dict[str, str]:
        return airflow_env(self.paths, port, gpu_slots=gpu_slots)

    # -- status ------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        state = self.load_state()
        if state is None:
            return {"running": False, "url": None, "pids": {}, "health": None}
        alive = {name: pid for name, pid in state.pids.items() if _alive(pid)}
        health = http.health(state.url) if alive.get("api-server") else None
        return {
            "running": bool(alive),
            "url": state.url,
            "pids": alive,
            "dead": sorted(set(state.pids) - set(alive)),
            "health": health,
            "healthy": http.is_healthy(health),
            "home": str(self.paths.home),
            "credentials_file": str(self.paths.passwords_file),
        }

    # -- up ----------------------------------------------------------------------------
    def up(self, port: int | None = None) -> StackState:
        state = self.load_state()
        if state is not None and any(_alive(pid) for pid in state.pids.values()):
            if port is not None and port != state.port:
                raise StackError(
                    f"--port: the stack is already running on port {state.port}; "
                    "run `airgenome down` first to move it"
                )
            if all(_alive(pid) for pid in state.pids.values()):
                self._progress(f"already running at {state.url}")
                self._wait_healthy(state)
                return state
            self._progress("some components died; restarting the stack")
            self.down()
        port = validate_port(port if port is not None else DEFAULT_PORT)
        if _port_in_use(port):
            raise StackError(f"--port: 127.0.0.1:{port} is already in use by another program")
        # One GPU count for every process: the validator refuses GPU steps the pool can never run.
        slots = gpu_slots()
        env = self.env(port, gpu_slots=slots)
        for folder in (self.paths.airflow_home, self.paths.logs, self.paths.plugins_folder):
            folder.mkdir(parents=True, exist_ok=True)
        self._migrate(env)
        state = StackState(port=port, started_at=time.time())
        try:
            for name, args in COMPONENTS.items():
                state.pids[name] = self._spawn(name, self._arguments(name, args), self._environment(name, env))
                self._save_state(state)
                self._progress(f"started {name} (pid {state.pids[name]})")
            self._wait_healthy(state)
            self._ensure_gpu_pool(state)
        except BaseException:
            self._progress("start failed; stopping what was started")
            self.down()
            raise
        return state

    def _ensure_gpu_pool(self, state: StackState) -> None:
        passwords = json.loads(self.paths.passwords_file.read_text())
        token = http.fetch_token(state.url, "admin", passwords["admin"])
        try:
            pool = ensure_gpu_pool(state.url, token)
        except PoolError as error:  # the stack is usable without it; say so loudly
            self._progress(f"warning: GPU pool not set up: {error}")
            return
        self._progress(f"GPU pool {pool.name!r}: {pool.slots} slots ({pool.action})")

    def _migrate(self, env: dict[str, str]) -> None:
        self._progress("migrating the Airflow metadata database (SQLite)")
        log = self.paths.logs / "db-migrate.log"
        with log.open("ab") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.paths.home,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"`airflow db migrate` failed (exit {result.returncode}); see {log}")

    def _arguments(self, name: str, args: list[str]) -> list[str]:
        if name == "warm-runtime":
            return [*args, "--socket", str(self.paths.warm_runtime_socket)]
        return args

    @staticmethod
    def _environment(name: str, env: dict[str, str]) -> dict[str, str]:
        return without_airflow_secrets(env) if name == "warm-runtime" else env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> int:
        log = (self.paths.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.paths.home,
            start_new_session=True,  # its own process group: stopped as a whole, by PID
        )
        log.close()
        return process.pid

    def _wait_healthy(self, state: StackState) -> None:
        self._progress(f"waiting for {state.url} to report healthy")
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last: dict[str, object] | None = None
        while time.monotonic() < deadline:
            dead = [name for name, pid in state.pids.items() if not _alive(pid)]
            if dead:
                logs = ", ".join(str(self.paths.logs / f"{name}.log") for name in dead)
                raise StackError(f"{', '.join(dead)} exited during start; see {logs}")
            last = http.health(state.url)
            if http.is_healthy(last):
                self._progress("healthy")
                return
            time.sleep(0.5)
        raise StackError(f"not healthy after {HEALTH_TIMEOUT_S:.0f}s (last health: {last})")

    # -- down --------------------------------------------------------------------------
    def down(self, grace_s: float = 20.0) -> list[str]:
        """Stop every process group we started; returns the names that were running."""
        state = self.load_state()
        if state is None:
            return []
        running = [name for name, pid in state.pids.items() if _alive(pid)]
        for pid in state.pids.values():
            self._signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(
            self._group_alive(pid) for pid in state.pids.values()
        ):
            time.sleep(0.2)
        for pid in state.pids.values():
            if self._group_alive(pid):
                self._signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            self._group_alive(pid) for pid in state.pids.values()
        ):
            time.sleep(0.1)
        self.paths.state_file.unlink(missing_ok=True)
        for name in running:
            self._progress(f"stopped {name}")
        return running

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        """True while any live (non-zombie) process remains in the group we started."""
        if _alive(pgid):
            return True
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False
