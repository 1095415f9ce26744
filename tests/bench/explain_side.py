"""Processes `bench_explain.py` runs beside the servers it measures (not a benchmark itself).

    python tests/bench/explain_side.py noop PORT
        a bare FastAPI app with one async no-op GET (`/noop`), served by uvicorn exactly as
        `airgenome explainer` serves its app: the floor of any FastAPI service on this machine.

    python tests/bench/explain_side.py load URL TOKEN BODIES.json CLIENTS
        CLIENTS threads, each with its own keep-alive connection, POST the bodies in turn to
        URL until stdin closes, then print {"ok": n, "errors": [...], "seconds": s} as JSON.
        A process of its own, so that the clients' CPU and GIL do not slow down the bench
        process's measurements of Airflow's API.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any


def noop(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/noop")
    async def no_op() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def load(url: str, token: str, bodies_file: str, clients: int) -> None:
    import httpx

    with open(bodies_file) as handle:
        bodies: list[Any] = json.load(handle)
    stop = threading.Event()
    lock = threading.Lock()
    ok = [0]
    errors: list[str] = []

    def client(seed: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            i = seed * 31
            while not stop.is_set():
                try:
                    response = http.post(url, json=bodies[i % len(bodies)])
                    failure = None if response.status_code == 200 else f"{response.status_code} {response.text[:120]}"
                except httpx.HTTPError as error:
                    failure = f"{type(error).__name__}: {error}"
                with lock:
                    if failure is None:
                        ok[0] += 1
                    else:
                        errors.append(failure)
                i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    print("started", flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    stop.set()
    for thread in threads:
        thread.join(timeout=150)
    print(json.dumps({"ok": ok[0], "errors": errors[:20], "error_count": len(errors),
                      "seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "noop":
        noop(int(sys.argv[2]))
    elif sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r}")
