"""Benchmark: evaluation-store writes, against raw sqlite3 inserts of the same data (the anchor).

    .venv/bin/python tests/evaluations/bench_store_writes.py [writers] [runs_per_writer]

Prints runs/s for the store (SDK `to_run()`: run the tasks, one transaction per run, WAL,
synchronous=FULL) and for the anchor (one raw sqlite3 transaction per run inserting the same
rows, same pragmas), single process and with N writer processes, and the ratios.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.evaluations.writers import write_runs  # noqa: E402


def anchor_writes(path: str, writer: int, count: int) -> int:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, body TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS tasks (run_id TEXT, position INT, body TEXT)")
    body = json.dumps({"metrics": {"accuracy": 0.9}, "expectations": [{"recipe": "{accuracy:0.9} > 0.5"}]})
    for i in range(count):
        run_id = f"{writer}-{i}-{time.perf_counter_ns()}"
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO runs VALUES (?, ?)", (run_id, body))
        db.executemany("INSERT INTO tasks VALUES (?, ?, ?)", [(run_id, 0, body), (run_id, 1, body)])
        db.execute("COMMIT")
    db.close()
    return count


def timed(pool: multiprocessing.pool.Pool, func, target: str, writers: int, per: int) -> float:
    pool.starmap(func, [(target, w, 1) for w in range(writers)])  # warm: imports, schema
    started = time.perf_counter()
    pool.starmap(func, [(target, w, per) for w in range(writers)])
    return writers * per / (time.perf_counter() - started)


def main() -> None:
    writers = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as scratch:
        for count in (1, writers):
            with context.Pool(count) as pool:
                store = timed(pool, write_runs, f"sqlite:///{scratch}/store-{count}.db", count, per)
                anchor = timed(pool, anchor_writes, f"{scratch}/anchor-{count}.db", count, per)
            print(
                f"{count} writer(s) x {per} runs: store {store:7.0f} runs/s, "
                f"raw sqlite3 anchor {anchor:7.0f} runs/s, ratio store/anchor {store / anchor:.2f}"
            )


if __name__ == "__main__":
    main()
