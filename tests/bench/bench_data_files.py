"""Data file components against the plain code they replace, measured in the same run.

1. ``transform.images-to-class-folders`` on N small images (default 10,000; 4 classes, a
   CLAIMED-like metadata table) against a per-file copy loop (``os.makedirs`` + ``shutil.copyfile``
   per row, what CLAIMED's image transformer did) on the same file system. The component also
   checks every file's magic bytes, makes the split and writes the table. Goal (issue 10): >= 3x.
2. ``evaluate.data-validation`` (in-process through the runtime: read the table, check and build
   the suite, validate, store the evaluation) against a raw Great Expectations call on the same
   DataFrame (ephemeral context, batch, suite, validate). GX is imported before both.
   Goal: component <= 1.1 x raw + 0.2 s.

Runs alternate; the best of R runs is reported. Prints only; never asserts.

    .venv/bin/python tests/bench/bench_data_files.py [--files 10000] [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.components.data_files.helpers import FINDINGS, png  # noqa: E402


def _env(work: Path, step: str, parameters: dict[str, Any], inputs: dict[str, Any]) -> dict[str, str]:
    return {
        "PIPELINE_NAME": "bench",
        "PIPELINE_RUNID": "r",
        "STEP_NAME": step,
        "AIRGENOME_HOME": str(work / "home"),
        "AIRGENOME_LAKE_ROOT": str(work / "lake"),
        "AIRGENOME_RESULT_PATH": str(work / f"{step}.json"),
        "AIRGENOME_EVALUATION_STORE_URI": f"sqlite:///{work / 'evaluations.db'}",
        "PARAMETERS": json.dumps(parameters),
        "AIRGENOME_INPUTS": json.dumps(inputs),
    }


def make_images(work: Path, count: int) -> tuple[Path, list[dict[str, str]]]:
    import pandas as pd

    images = work / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(count):
        name = f"img{i:05d}.png"
        (images / name).write_bytes(png(i, size=16))  # ~120 bytes; 16 px
        rows.append({"patientid": str(i), "finding": FINDINGS[i % len(FINDINGS)], "filename": name})
    pd.DataFrame(rows).to_parquet(work / "metadata.parquet", index=False)
    return images, rows


def copy_loop(images: Path, rows: list[dict[str, str]], target: Path) -> None:
    for row in rows:
        folder = target / row["finding"].replace("/", "_")
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(images / row["filename"], folder / row["filename"])


def bench_class_folders(work: Path, count: int, runs: int) -> None:
    from airgenome.components.runtime import main

    images, rows = make_images(work, count)
    inputs = {
        "table": {"uri": f"file://{work / 'metadata.parquet'}", "kind": "table"},
        "images": {"uri": f"file://{images}", "kind": "images"},
    }
    anchor, component = [], []
    for run in range(runs):
        target = work / f"copy-{run}"
        started = time.perf_counter()
        copy_loop(images, rows, target)
        anchor.append(time.perf_counter() - started)
        started = time.perf_counter()
        code = main(["transform.images-to-class-folders"], _env(work, f"classes-{run}", {}, inputs))
        component.append(time.perf_counter() - started)
        assert code == 0, code
        shutil.rmtree(target)
    manifest = json.loads((work / f"classes-{runs - 1}.json").read_text())
    best_anchor, best_component = min(anchor), min(component)
    print(
        f"images to class folders, {count} files: component {best_component:.3f} s "
        f"(placement {manifest['metrics']['placement']}), per-file copy loop {best_anchor:.3f} s, "
        f"speed-up {best_anchor / best_component:.1f}x (goal >= 3x); runs {[round(a, 3) for a in anchor]} vs "
        f"{[round(c, 3) for c in component]}"
    )


SUITE: list[dict[str, Any]] = [
    {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "finding"}},
    {"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"expectation": "expect_column_values_to_be_in_set", "kwargs": {"column": "sex", "value_set": ["M", "F"]}},
    {"expectation": "expect_column_values_to_be_unique", "kwargs": {"column": "patientid"}},
    {"expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
]


def raw_gx(frame: Any) -> bool:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
        ),
    )
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset("t")
        .add_batch_definition_whole_dataframe("w")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(
        name="raw", expectations=[get_expectation_impl(e["expectation"])(**e["kwargs"]) for e in SUITE]
    )
    return bool(batch.validate(suite, result_format={"result_format": "SUMMARY"}).success)


def bench_validation(work: Path, rows: int, runs: int) -> None:
    import great_expectations  # noqa: F401 - imported before both sides
    import pandas as pd

    from airgenome.components.runtime import main

    frame = pd.DataFrame(
        {
            "patientid": [f"p{i}" for i in range(rows)],
            "sex": ["M", "F"] * (rows // 2) + ["M"] * (rows % 2),
            "age": [20 + i % 70 for i in range(rows)],
            "finding": [FINDINGS[i % len(FINDINGS)] for i in range(rows)],
        }
    )
    frame.to_parquet(work / "table.parquet", index=False)
    inputs = {"table": {"uri": f"file://{work / 'table.parquet'}", "kind": "table"}}
    raw_gx(frame.head(10))  # warm both paths once (metric providers, store schema)
    main(["evaluate.data-validation"], _env(work, "warm", {"suite": SUITE}, inputs))
    raw, component = [], []
    for run in range(runs):
        started = time.perf_counter()
        assert raw_gx(frame)
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        code = main(["evaluate.data-validation"], _env(work, f"validate-{run}", {"suite": SUITE}, inputs))
        component.append(time.perf_counter() - started)
        assert code == 0, code
    best_raw, best_component = min(raw), min(component)
    bound = 1.1 * best_raw + 0.2
    print(
        f"data validation, {rows} rows x {len(SUITE)} expectations: component {best_component:.3f} s, raw GX "
        f"{best_raw:.3f} s, ratio {best_component / best_raw:.2f}x; goal <= 1.1 x raw + 0.2 s = {bound:.3f} s "
        f"({'met' if best_component <= bound else 'NOT met'}); runs {[round(r, 3) for r in raw]} vs "
        f"{[round(c, 3) for c in component]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-data-files-") as scratch:
        bench_class_folders(Path(scratch) / "folders", args.files, args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-data-files-") as scratch:
        bench_validation(Path(scratch), args.rows, args.runs)


if __name__ == "__main__":
    main()
