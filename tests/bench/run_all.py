"""`make bench`: every benchmark, one after another, each printing ratios against anchors
measured in the same run. Nothing here asserts; the numbers are for reading.

    make bench                  # all
    make bench BENCH=sequencer  # one (substring of the file name)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCHES = [
    "bench_sequencer.py",     # spec -> DAG vs dag-factory
    "bench_component_overhead.py",  # no-op component step vs PythonOperator, embedded
    "bench_upload.py",        # upload -> visible -> running, embedded
    "bench_model_store.py",   # save/load/search vs raw MLflow
    "bench_store_writes.py",  # evaluation store writers vs raw sqlite3
    "bench_explain.py",       # explanations over HTTP vs the raw library calls
]
# Every other bench_*.py (one per component area) runs after these, by name.
BENCHES += sorted(p.name for p in HERE.glob("bench_*.py") if p.name not in BENCHES)


def main() -> int:
    only = os.environ.get("BENCH", "")
    failures = []
    for name in BENCHES:
        if only and only not in name:
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        # The checkout on the path: benches share helpers through `tests.*` imports.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        result = subprocess.run([sys.executable, str(HERE / name)], cwd=ROOT, env=env, check=False)
        print(f"=== {name}: exit {result.returncode} in {time.monotonic() - started:.0f}s ===", flush=True)
        if result.returncode:
            failures.append(name)
    if failures:
        print(f"benchmarks that did not finish: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
