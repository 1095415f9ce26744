"""Processes `bench_explain.py` runs beside the servers it measures (not a benchmark itself).

    python tests/bench/explain_side.py noop PORT
        a bare FastAPI app with one async no-op GET (`/noop`), served by uvicorn exactly as
        `airgenome explainer` serves its app: the floor of any FastAPI service on this machine.

    python tests/bench/explain_side.py load URL TOKEN BODIES.json CLIENTS
        CLIENTS concurrent clients, each with its own keep-alive connection, POST the bodies
        in turn to URL (each waits for its answer before the next) until stdin closes, then
        print {"ok": n, "errors": [...], "error_count": n, "seconds": s} as JSON. A process
        of its own, so that the clients' CPU and GIL do not slow down the bench process's
        measurements of Airflow's API.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


def noop(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/noop")
    async def no_op() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def load(url: str, token: str, bodies_file: str, clients: int) -> None:
    asyncio.run(_load(url, token, bodies_file, clients))


async def _load(url: str, token: str, bodies_file: str, clients: int) -> None:
    # Raw HTTP/1.1 over keep-alive connections, requests encoded once: ~0.05 ms of client CPU
    # per request where httpx takes ~1 ms. On a 2-CPU machine the simulated clients must not
    # take the CPU the servers under test (and Airflow's API) need.
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with open(bodies_file) as handle:
        bodies: list[Any] = json.load(handle)
    requests = []
    for body in bodies:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        requests.append(head.encode() + payload)
    stop = asyncio.Event()
    ok = [0]
    errors: list[str] = []

    async def client(seed: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = seed * 31
        try:
            while not stop.is_set():
                writer.write(requests[i % len(requests)])
                try:
                    status, body = await _response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                if status == 200:
                    ok[0] += 1
                else:
                    errors.append(f"{status} {body[:120]!r}")
                i += 1
        finally:
            writer.close()

    started = time.perf_counter()
    tasks = [asyncio.create_task(client(k)) for k in range(clients)]
    print("started", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes it
    stop.set()
    await asyncio.wait(tasks, timeout=150)
    print(json.dumps({"ok": ok[0], "errors": errors[:20], "error_count": len(errors),
                      "seconds": time.perf_counter() - started}), flush=True)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(chunks)
    raise ValueError(f"a response without a length: {lines[0]}")


if __name__ == "__main__":
    if sys.argv[1] == "noop":
        noop(int(sys.argv[2]))
    elif sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r}")
