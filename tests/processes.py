"""Processes the tests and benches start, stopped the one way: by their process group's PID."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Its whole process group (started with `start_new_session=True`), by PID; SIGKILL if it
    ignores SIGTERM for 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
