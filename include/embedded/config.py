"""The environment of the embedded Airflow: one place that decides every setting.

Everything is passed as ``AIRFLOW__SECTION__KEY`` variables so that no airflow.cfg is
edited and every process we start (and every task it forks) sees the same values.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from airgenome import settings

DEFAULT_PORT = 28080
# Each LocalExecutor slot pre-starts a worker process; 2 cores cannot use more than a few.
PARALLELISM = 4
USERS = {"admin": "admin", "viewer": "viewer"}


@dataclass(frozen=True)
class EmbeddedPaths:
    home: Path

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def plugins_folder(self) -> Path:
        # Deliberately empty: our plugin is registered by entry point only.
        return self.home / "plugins"

    @property
    def pools_file(self) -> Path:
        return self.home / "pools.json"

    @property
    def warm_runtime_socket(self) -> Path:
        return self.home / "run" / "warm-runtime.sock"


def _load_or_create_secrets(paths: EmbeddedPaths) -> dict[str, str]:
    """Secrets shared by all processes (JWT signing, Fernet), made once per home."""
    if paths.secrets_file.exists():
        return dict(json.loads(paths.secrets_file.read_text()))
    from cryptography.fernet import Fernet

    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "secret_key": secrets.token_urlsafe(32),
        "fernet_key": Fernet.generate_key().decode(),
    }
    _write_private(paths.secrets_file, json.dumps(values))
    return values


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def ensure_passwords(paths: EmbeddedPaths) -> dict[str, str]:
    """Generate the embedded users' passwords once (SimpleAuthManager reads this file)."""
    if paths.passwords_file.exists():
        return dict(json.loads(paths.passwords_file.read_text()))
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    _write_private(paths.passwords_file, json.dumps(passwords) + "\n")
    return passwords


def airflow_env(paths: EmbeddedPaths, port: int, gpu_slots: int | None = None) -> dict[str, str]:
    """The full process environment for every embedded Airflow component."""
    secret_values = _load_or_create_secrets(paths)
    ensure_passwords(paths)
    base_url = f"http://127.0.0.1:{port}"
    users = ",".join(f"{user}:{role}" for user, role in USERS.items())
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(paths.airflow_home),
            "AIRGENOME_HOME": str(paths.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder()),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.plugins_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": secret_values["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            # The API server's first execution-API call after a start takes seconds idle and
            # tens of seconds on 2 busy CPUs; the default 5 s timeout (x5 retries) then kills
            # the task. Wait instead: a slow answer is not a failure.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            # The task supervisor notices its task's exit when the task's sockets close; when they
            # close a moment before the process is reaped, it sleeps in select() with nothing
            # left to wake it for up to this interval (default 5 s) while its LocalExecutor
            # worker stays taken. Measured: 6-14 of every 30 no-op workloads held their worker
            # ~5 s (plain PythonOperators too), and a chain waited 1-2 s for a free worker. It
            # also spaces the running tasks' heartbeats (one a second instead of one in five).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{paths.airflow_home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secret_values["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_values["jwt_secret"],
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(paths.logs / "tasks"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
                paths.logs / "dag-processor"
            ),
            # Trigger -> running in ~0.1 s. Measured (tests/bench/bench_upload.py, 20 uploads):
            # 0.1 gives p95 1.7 s upload -> first task running at ~15 % of one core idle;
            # 0.25 gives p95 2.7 s at ~8 %. Override by setting the variable before `up`.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": os.environ.get(
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "0.1"
            ),
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            # A deleted sequence's DAG is marked stale within seconds, not minutes.
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "10",
            "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airgenome\..*",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if gpu_slots is not None:
        env["AIRGENOME_GPU_SLOTS"] = str(gpu_slots)
    env.update(settings.store_locations(paths.home).as_env())
    env.setdefault("AIRGENOME_UPLOADS_FOLDER", str(settings.uploads_folder(paths.home)))
    env.setdefault("AIRGENOME_WARM_RUNTIME_SOCKET", str(paths.warm_runtime_socket))
    return env

