"""Shared fixtures: an isolated AIRGENOME_HOME per test session, and the live stack."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An AIRGENOME_HOME for the whole session: nothing touches the checkout or ~/."""
    home = tmp_path_factory.mktemp("airgenome-home")
    previous = os.environ.get("AIRGENOME_HOME")
    os.environ["AIRGENOME_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("AIRGENOME_HOME", None)
    else:
        os.environ["AIRGENOME_HOME"] = previous


@dataclass
class LiveStack:
    url: str
    home: Path
    token: str

    def token_for(self, user: str) -> str:
        from airgenome.embedded.http import fetch_token

        passwords = json.loads((self.home / "passwords.json").read_text())
        return fetch_token(self.url, user, passwords[user])


@pytest.fixture(scope="session")
def live_stack(session_home: Path) -> Iterator[LiveStack]:
    """The real embedded Airflow 3.3 (api-server, scheduler, dag-processor, triggerer).

    Started once per test session on a free port under the session's home, stopped by PID.
    """
    from airgenome.cli.stack_commands import admin_token
    from airgenome.embedded.stack import EmbeddedStack

    stack = EmbeddedStack(session_home)
    state = stack.up(port=free_port())
    try:
        yield LiveStack(url=state.url, home=session_home, token=admin_token(stack))
    finally:
        stack.down()
