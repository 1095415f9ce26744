"""Filter and transform: the safe evaluator vs pandas evaluating the same expression directly
(what CLAIMED's exec did), same run, 1M rows (goal <= 1.2x); Spark local[*] vs pandas at 1M
and 10M rows (ratio and crossover), end to end from Parquet to Parquet.

    .venv/bin/python tests/bench/bench_data_tables.py
    BENCH_SPARK_ROWS=1000000 ...    # skip the 10M run (slow on 2 busy CPUs)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PREDICATE = "~metadata.filename.str.contains('.gz')"
TRANSFORM = "x.replace('/', '_')"
NUMERIC = "(metadata.age > 40) & metadata.sex.isin(['F'])"


def table(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    names = np.array(["scan-%d.jpg", "scan-%d.nii.gz", "ct-%d.png"])
    findings = np.array(["Pneumonia/Viral/COVID-19", "Pneumonia/Bacterial/Streptococcus", "No Finding", "Pneumonia/Viral/SARS"])
    kinds = rng.integers(0, 3, rows)
    return pd.DataFrame(
        {
            "filename": [names[k] % i for i, k in enumerate(kinds)],
            "finding": findings[rng.integers(0, 4, rows)],
            "age": rng.integers(0, 100, rows),
            "sex": np.array(["F", "M"])[rng.integers(0, 2, rows)],
        }
    )


def best(function: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def safe_vs_direct(rows: int) -> None:
    from airgenome.components.data import expressions as ex

    metadata = table(rows)
    x = metadata["finding"]
    cases = [
        ("filter  " + PREDICATE, lambda: ex.predicate_mask(ex.compile_predicate(PREDICATE), metadata),
         lambda: ~metadata.filename.str.contains(".gz")),
        ("filter  " + NUMERIC, lambda: ex.predicate_mask(ex.compile_predicate(NUMERIC), metadata),
         lambda: (metadata.age > 40) & metadata.sex.isin(["F"])),
        ("transform " + TRANSFORM, lambda: ex.evaluate(ex.compile_expression(TRANSFORM), metadata, x),
         lambda: x.str.replace("/", "_", regex=False)),
        ("transform (CLAIMED's per-value apply)", lambda: ex.evaluate(ex.compile_expression(TRANSFORM), metadata, x),
         lambda: x.apply(lambda v: v.replace("/", "_"))),
    ]
    print(f"safe evaluator vs pandas directly, {rows:,} rows (best of 5; goal <= 1.2x)")
    for label, safe, direct in cases:
        # interleave so a busy machine hurts both alike
        safe_times, direct_times = [], []
        for _ in range(5):
            safe_times.append(best(safe, 1))
            direct_times.append(best(direct, 1))
        s, d = min(safe_times), min(direct_times)
        print(f"  {label:55s} safe {s * 1000:8.1f} ms  direct {d * 1000:8.1f} ms  ratio {s / d:5.2f}x"
              f"  (median ratio {statistics.median(safe_times) / statistics.median(direct_times):.2f}x)")


def spark_vs_pandas(row_counts: list[int]) -> None:
    from airgenome.components.data import expressions as ex
    from airgenome.components.data import spark as sp
    from airgenome.components.data.tables import write_spark_table
    from airgenome.components.files import read_table, write_table

    start = time.perf_counter()
    session = sp.start_session("local[*]", app_name="bench")
    session.range(1).count()
    print(f"\nSpark local[*] vs pandas, Parquet in -> filter + transform -> Parquet out "
          f"(session start {time.perf_counter() - start:.1f} s, not counted)")
    folder = Path(tempfile.mkdtemp(prefix="bench-tables-"))
    try:
        predicate, transform = ex.compile_predicate(PREDICATE), ex.compile_expression(TRANSFORM)
        results = []
        for rows in row_counts:
            source = folder / f"in-{rows}"
            write_table(f"file://{source}", table(rows))
            uri = f"file://{source}/table.parquet"

            def pandas_run(rows: int = rows, uri: str = uri) -> None:
                frame = read_table(uri)
                kept = frame[ex.predicate_mask(predicate, frame).to_numpy()].reset_index(drop=True)
                kept["finding"] = ex.evaluate(transform, kept, kept["finding"])
                write_table(f"file://{folder}/pandas-{rows}", kept)

            def spark_run(rows: int = rows, uri: str = uri) -> None:
                frame = session.read.parquet(uri.removeprefix("file://"))
                frame = frame.filter(sp.predicate_column(predicate, frame))
                frame = frame.withColumn("finding", sp.to_column(transform, frame, "finding"))
                write_spark_table(frame, f"file://{folder}/spark-{rows}")

            repeat = 3 if rows <= 1_000_000 else 1
            p = best(pandas_run, repeat)
            s = best(spark_run, repeat)
            results.append((rows, p, s))
            print(f"  {rows:>11,} rows  pandas {p:7.2f} s  spark {s:7.2f} s  spark/pandas {s / p:5.2f}x", flush=True)
        cores = os.cpu_count()
        crossing = [r for r, p, s in results if s < p]
        print(f"  crossover on this machine ({cores} CPUs): "
              + (f"Spark is faster from {crossing[0]:,} rows" if crossing else "none up to the largest size measured"))
    finally:
        session.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    safe_vs_direct(1_000_000)
    sizes = [int(n) for n in os.environ.get("BENCH_SPARK_ROWS", "1000000,10000000").split(",") if n]
    spark_vs_pandas(sizes)
