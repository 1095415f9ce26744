"""CLAIMED-like metadata: finding strings with '/', some .gz file names, missing values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def claimed_metadata() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "patientid": [1, 2, 3, 4, 5, 6, 7, 8],
            "filename": [
                "auntminnie-a-2020_01_28_23_51_6665_2020_01_28_Vietnam_coronavirus.jpeg",
                "nejmc2001573_f1a.jpeg",
                "covid-19-pneumonia-15-PA.jpg",
                "ct-scan-01.nii.gz",
                "ct-scan-02.nii.gz",
                "lancet-case2a.jpg",
                "kjr-21-e24-g001-l-a.jpg",
                "radiopaedia-ct.nii.gz",
            ],
            "finding": [
                "Pneumonia/Viral/COVID-19",
                "Pneumonia/Viral/COVID-19",
                "Pneumonia/Viral/SARS",
                "Pneumonia/Bacterial/Streptococcus",
                "No Finding",
                "Pneumonia/Viral/COVID-19",
                "Pneumonia/Fungal/Pneumocystis",
                "Pneumonia/Viral/COVID-19",
            ],
            "age": [65.0, 52.0, None, 74.0, 30.0, 45.0, 61.0, 38.0],
            "sex": ["M", "F", "M", "M", None, "F", "F", "M"],
        }
    )


def env(tmp_path: Path, parameters: dict[str, Any], table_uri: str | None = None, **extra: str) -> dict[str, str]:
    environment = {
        "PIPELINE_NAME": "p",
        "PIPELINE_RUNID": "manual__2026-11-29T10:00:00+00:00",
        "STEP_NAME": "step",
        "AIRGENOME_HOME": str(tmp_path / "home"),
        "AIRGENOME_LAKE_ROOT": str(tmp_path / "lake"),
        "AIRGENOME_RESULT_PATH": str(tmp_path / "result.json"),
        "AIRGENOME_OUTPUT_URI": f"file://{tmp_path}/out",
        "PARAMETERS": json.dumps(parameters),
        **extra,
    }
    if table_uri is not None:
        environment["AIRGENOME_INPUTS"] = json.dumps({"table": {"uri": table_uri, "kind": "table"}})
    return environment


@pytest.fixture
def metadata_uri(tmp_path: Path) -> str:
    path = tmp_path / "in" / "table.parquet"
    path.parent.mkdir(parents=True)
    claimed_metadata().to_parquet(path, index=False)
    return f"file://{path}"
