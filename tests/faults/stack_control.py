"""Kill and restart one process of the running embedded stack, by the PID in its state file.

The stack starts each component in its own session (process group = its PID). `kill` sends
SIGKILL to the component's PID (``group=False``: its children live on, as a LocalExecutor's
workers do when only the scheduler dies) or to its whole group; `restart` starts it again
exactly as `EmbeddedStack.up` did (same arguments, same environment) and records the new PID, so
`EmbeddedStack.down` stops the new process. `executor_workers` finds the scheduler's
LocalExecutor workers (its children), which `pause` / `resume` stop and continue.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from airgenome.embedded.stack import COMPONENTS, EmbeddedStack, _alive
from tests.waiting import wait_until


def pid_of(home: Path, name: str) -> int:
    state = EmbeddedStack(home).load_state()
    assert state is not None, f"no embedded stack state under {home}"
    return int(state.pids[name])


def kill(home: Path, name: str, *, group: bool) -> int:
    """SIGKILL the component (or its whole process group); returns the PID it had."""
    pid = pid_of(home, name)
    (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), timeout_s=30, what=f"{name} (pid {pid}) to die", every_s=0.1)
    return pid


def executor_workers(scheduler: int) -> list[int]:
    """The PIDs of the scheduler's LocalExecutor workers: its children, titled by Airflow."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            title = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == scheduler and title.startswith(b"airflow worker -- LocalExecutor"):
            workers.append(int(entry.name))
    return sorted(workers)


def pause(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)


def resume(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def kill_leftovers(pgid: int) -> None:
    """SIGKILL what is left of a killed component's process group (its orphaned children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def restart(home: Path, name: str) -> int:
    """Start the component again as `up` did; returns its new PID (recorded in the state)."""
    from airgenome.embedded.pools import gpu_slots

    stack = EmbeddedStack(home)
    state = stack.load_state()
    assert state is not None, f"no embedded stack state under {home}"
    assert not _alive(state.pids[name]), f"{name} is still running"
    env = stack.env(state.port, gpu_slots=gpu_slots())
    state.pids[name] = stack._spawn(name, stack._arguments(name, COMPONENTS[name]), stack._environment(name, env))
    stack._save_state(state)
    return state.pids[name]


def ensure_running(home: Path, name: str) -> None:
    """Restart the component if a failed test left it dead (later tests share the stack)."""
    if not _alive(pid_of(home, name)):
        restart(home, name)
