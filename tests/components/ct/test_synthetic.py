"""The synthetic CT set: deterministic, covid-chestxray-shaped, with a bias that can be switched off."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from airgenome.components.runtime import main


def _run(tmp_path: Path, name: str, **params: object) -> dict[str, object]:
    env = {
        "PIPELINE_NAME": "ct",
        "PIPELINE_RUNID": name,
        "STEP_NAME": "data",
        "AIRGENOME_HOME": str(tmp_path / "home"),
        "AIRGENOME_LAKE_ROOT": str(tmp_path / "lake"),
        "AIRGENOME_RESULT_PATH": str(tmp_path / f"{name}.json"),
        "PARAMETERS": json.dumps(params),
    }
    assert main(["input.synthetic-ct"], env) == 0
    return json.loads((tmp_path / f"{name}.json").read_text())


def _folder(manifest: dict, output: str) -> Path:
    return Path(manifest["outputs"][output]["uri"].removeprefix("file://"))


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_set_is_shaped_like_covid_chestxray_and_deterministic(tmp_path: Path) -> None:
    first = _run(tmp_path, "a", count=40, image_size=48, gz_rows=3, seed=11)
    again = _run(tmp_path, "b", count=40, image_size=48, gz_rows=3, seed=11)
    table = pd.read_parquet(first["outputs"]["table"]["uri"].removeprefix("file://"))
    assert list(table.columns) == [
        "patientid", "offset", "sex", "age", "finding", "RT_PCR_positive", "survival", "view",
        "modality", "date", "location", "filename", "folder",
    ]
    assert len(table) == 43
    assert set(table["finding"]) == {"Pneumonia/Viral/COVID-19", "No Finding"}
    assert table["filename"].str.contains(".gz", regex=False).sum() == 3
    assert set(table["sex"]) == {"M", "F"}
    assert table["age"].between(20, 90).all()
    images, masks = _folder(first, "images"), _folder(first, "masks")
    assert len(list(images.glob("*.png"))) == 40 and len(list(images.glob("*.nii.gz"))) == 3
    assert sorted(p.name for p in masks.iterdir()) == sorted(p.name for p in images.glob("*.png"))
    assert Image.open(images / "ct-00000.png").size == (48, 48)
    assert _digest(images) == _digest(_folder(again, "images"))  # same seed, same bytes
    assert first["metrics"] == again["metrics"]


def test_positives_have_masks_inside_the_lungs_and_negatives_none(tmp_path: Path) -> None:
    manifest = _run(tmp_path, "m", count=30, image_size=64, gz_rows=0, seed=3)
    table = pd.read_parquet(manifest["outputs"]["table"]["uri"].removeprefix("file://"))
    masks = _folder(manifest, "masks")
    for row in table.itertuples():
        marked = np.asarray(Image.open(masks / row.filename)) > 0
        assert marked.any() == (row.finding == "Pneumonia/Viral/COVID-19"), row.filename


def test_the_planted_marker_is_on_mens_positives_only_and_switches_off(tmp_path: Path) -> None:
    def marked(manifest: dict) -> pd.DataFrame:
        table = pd.read_parquet(manifest["outputs"]["table"]["uri"].removeprefix("file://"))
        images = _folder(manifest, "images")
        table["marker"] = [
            bool((np.asarray(Image.open(images / f))[2:6, 2:6] == 255).all()) for f in table["filename"]
        ]
        return table

    biased = marked(_run(tmp_path, "biased", count=80, gz_rows=0, seed=5))
    assert not biased.loc[biased["sex"] == "F", "marker"].any()
    assert not biased.loc[biased["finding"] == "No Finding", "marker"].any()
    men_positive = biased[(biased["sex"] == "M") & (biased["finding"] != "No Finding")]
    assert men_positive["marker"].mean() > 0.75
    fair = marked(_run(tmp_path, "fair", count=80, gz_rows=0, seed=5, bias="none"))
    assert not fair["marker"].any()
