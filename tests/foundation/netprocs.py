"""What our processes are doing, read from /proc: live members of process groups, and
the addresses their listening sockets are bound to."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path


def group_members(pgids: set[int]) -> set[int]:
    """Live, non-zombie processes whose process group is one we started."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            members.add(int(entry.name))
    return members


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
        except OSError:
            continue
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    return inodes


def _decode(address: str) -> str:
    host, port = address.split(":")
    raw = bytes.fromhex(host)
    # /proc stores addresses as little-endian 32-bit words.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{ipaddress.ip_address(packed)}:{int(port, 16)}"


def listening_addresses(pids: set[int]) -> list[str]:
    """host:port of every TCP socket in LISTEN state owned by one of `pids`."""
    inodes = _socket_inodes(pids)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found.append(_decode(fields[1]))
    return sorted(found)


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))
