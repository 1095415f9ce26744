"""Filter and transform: the safe evaluator vs pandas evaluating the same expression directly
(what CLAIMED's exec did), same run, 1M rows (goal <= 1.2x); Spark local[*] vs pandas at 1M
and 10M rows, end to end from Parquet to Parquet: wall time of each, the ratio (pandas, measured
in the same run, is the anchor) and the crossover estimated from a fixed + per-row cost fitted
to each backend's times (least squares over the sizes measured).

    .venv/bin/python tests/bench/bench_data_tables.py
    BENCH_SPARK_ROWS=1000000 ...    # skip the 10M run (slow on 2 busy CPUs)
    BENCH_SKIP_SAFE=1 ...           # only Spark vs pandas
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
            print(f"  {rows:>11,} rows  pandas {p:7.2f} s  spark {s:7.2f} s  spark/pandas {s / p:5.2f}x"
                  f"  (python peak RSS {peak_rss_gib():.1f} GiB)", flush=True)
        print(f"  crossover on this machine ({os.cpu_count()} CPUs): {crossover(results)}")
    finally:
        session.stop()
        shutil.rmtree(folder, ignore_errors=True)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_row * rows`` (exact through two points)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    per_row = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - per_row * mean_x, per_row


def crossover(results: list[tuple[int, float, float]]) -> str:
    """What was measured, and where Spark's fitted cost line crosses pandas'."""
    faster = [rows for rows, p, s in results if s < p]
    text = (f"Spark faster at {', '.join(f'{rows:,}' for rows in faster)} rows" if faster
            else "pandas faster at every size measured")
    if len(results) < 2:
        return text + " (two sizes are needed to estimate a crossover)"
    pandas_fixed, pandas_row = fit([(r, p) for r, p, _ in results])
    spark_fixed, spark_row = fit([(r, s) for r, _, s in results])
    text += (f"; fitted: pandas {pandas_fixed:+.2f} s + {pandas_row * 1e6:.2f} s per M rows, "
             f"spark {spark_fixed:+.2f} s + {spark_row * 1e6:.2f} s per M rows; ")
    if spark_row >= pandas_row:
        return text + "no crossover (Spark's per-row cost is not lower here)"
    rows = (spark_fixed - pandas_fixed) / (pandas_row - spark_row)
    return text + (f"estimated crossover ~{rows / 1e6:.1f}M rows" if rows > 0 else "Spark ahead at any size")


def peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


if __name__ == "__main__":
    if not os.environ.get("BENCH_SKIP_SAFE"):
        safe_vs_direct(1_000_000)
    sizes = [int(n) for n in os.environ.get("BENCH_SPARK_ROWS", "1000000,10000000").split(",") if n]
    spark_vs_pandas(sizes)
