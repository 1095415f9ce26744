"""A lake on a full disk, two ways: a real tiny tmpfs, or ``ENOSPC`` injected at the write.

`tiny_tmpfs` mounts a tmpfs of a few pages (root only: ``mount -t tmpfs``; None where that is
not permitted). `install` makes writes under a folder fail as a full disk does: the bytes that
fit are written, then ``OSError(ENOSPC)`` (no file name, as the kernel reports it). It patches
fsspec's local file writes, the one boundary every component output goes through
(`airgenome.components.files.write_bytes`).

Run as a script, it is the ``python`` of a stand-in pod whose disk is full:
``FULL_DISK_ROOT=<lake> FULL_DISK_FREE_BYTES=<n> python full_disk.py -m MODULE ARGS...``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def install(root: str, free_bytes: int) -> Callable[[], None]:
    """Writes below `root` get `free_bytes` in all (this process), then ENOSPC; returns the undo."""
    from fsspec.implementations.local import LocalFileOpener

    original = LocalFileOpener.write
    disk = {"free": free_bytes}
    prefix = root.rstrip("/") + "/"

    def write(self: Any, data: Any) -> Any:
        if not str(self.path).startswith(prefix):
            return original(self, data)
        size = len(memoryview(data).cast("B"))
        if size > disk["free"]:
            if disk["free"]:
                original(self, bytes(memoryview(data).cast("B")[: disk["free"]]))
                self.f.flush()
            disk["free"] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        disk["free"] -= size
        return original(self, data)

    LocalFileOpener.write = write  # type: ignore[method-assign]

    def undo() -> None:
        LocalFileOpener.write = original  # type: ignore[method-assign]

    return undo


@contextmanager
def tiny_tmpfs(path: Path, size: str = "64k") -> Iterator[Path | None]:
    """A tmpfs of `size` at `path` (unmounted afterwards), or None where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        yield None
        return
    mounted = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


def wrapper_script(folder: Path, root: str, free_bytes: int) -> Path:
    """An executable that stands for ``python`` in a pod whose lake disk is full."""
    script = folder / "python-full-disk"
    script.write_text(
        "#!/bin/sh\n"
        f"FULL_DISK_ROOT='{root}' FULL_DISK_FREE_BYTES={free_bytes} "
        f'exec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def main(argv: list[str]) -> None:
    import runpy

    install(os.environ["FULL_DISK_ROOT"], int(os.environ["FULL_DISK_FREE_BYTES"]))
    if len(argv) < 2 or argv[0] != "-m":
        raise SystemExit("usage: full_disk.py -m MODULE [ARGS...]")
    sys.argv = [argv[1], *argv[2:]]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    sys.path.pop(0)  # this file's folder is not a package root
    main(sys.argv[1:])
