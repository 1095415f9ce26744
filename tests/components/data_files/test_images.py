"""transform.images-to-class-folders: CLAIMED's metadata + images -> <class>/<file> + split.json."""

from __future__ import annotations

import json
import os
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airgenome.components import registry
from airgenome.components.data.images import safe_name, split_files

from .helpers import claimed_repository, leftovers, png, run, step_folder, write_csv

COMPONENT = "transform.images-to-class-folders"


def _inputs(root: Path, metadata: str = "metadata.csv") -> dict[str, Any]:
    return {
        "table": {"uri": f"file://{root / metadata}", "kind": "table"},
        "images": {"uri": f"file://{root / 'images'}", "kind": "images"},
    }


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    claimed_repository(root)
    return root


def test_claimed_metadata_becomes_safe_class_folders_with_a_split_and_a_table(tmp_path: Path, repository: Path) -> None:
    code, manifest = run(tmp_path, COMPONENT, {"target_column": "finding", "image_column": "filename"},
                         _inputs(repository))
    assert code == 0 and manifest is not None
    out = step_folder(tmp_path) / "images"
    assert manifest["outputs"]["images"]["uri"] == f"file://{out}"
    classes = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert classes == ["No_Finding", "Pneumonia_Bacterial_Streptococcus", "Pneumonia_Viral_COVID-19",
                       "Pneumonia_Viral_SARS"]
    split = json.loads((out / "split.json").read_text())
    assert split["seed"] == 123 and split["validation_fraction"] == 0.2 and split["classes"] == classes
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert sorted(split["train"] + split["validation"]) == files
    assert len(files) == 38  # 40 listed, 2 missing; the .nii.gz volume is not an image
    # every class is split on its own: 10 (or 8) files -> 2 to validation
    assert Counter(f.split("/")[0] for f in split["validation"]) == dict.fromkeys(classes, 2)
    assert (out / split["train"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    images = manifest["outputs"]["images"]["metadata"]
    assert images["placement"] == "hardlink"  # same file system: links, not copies
    assert images["problems"]["missing"]["count"] == 2
    assert images["problems"]["missing"]["examples"] == ["row 1: patient0001-0.png", "row 2: patient0002-1.png"]
    assert images["problems"]["not an image"] == {"count": 1, "examples": ["row 41: coronacases_org_001.nii.gz"]}
    assert images["class_names"]["Pneumonia_Viral_COVID-19"] == "Pneumonia/Viral/COVID-19"
    sample = out / split["train"][0]
    assert os.stat(sample).st_ino == os.stat(repository / "images" / sample.name).st_ino

    table = pd.read_parquet(step_folder(tmp_path) / "table" / "table.parquet")
    assert len(table) == 38 and {"sex", "age", "image", "class", "split"} <= set(table.columns)
    assert set(table["image"]) == set(files)
    assert sorted(table.loc[table["split"] == "validation", "image"]) == split["validation"]
    row = table[table["filename"] == "patient0003-2.png"].iloc[0]
    assert row["class"] == "Pneumonia_Viral_COVID-19" and row["image"] == "Pneumonia_Viral_COVID-19/patient0003-2.png"
    assert manifest["metrics"]["left_out"] == 3 and manifest["metrics"]["images"] == 38
    assert leftovers(step_folder(tmp_path)) == []


def test_the_split_is_deterministic_by_seed_and_stratified() -> None:
    by_class = {"a": [f"{i}.png" for i in range(50)], "b": [f"{i}.png" for i in range(10)], "c": ["only.png"]}
    first = split_files(by_class, 123, 0.2)
    assert first == split_files({k: list(reversed(v)) for k, v in by_class.items()}, 123, 0.2)  # order-free
    assert first != split_files(by_class, 7, 0.2)
    validation = Counter(item.split("/")[0] for item in first[1])
    assert validation == {"a": 10, "b": 2}  # a single file stays in train
    assert split_files({"a": ["x", "y"]}, 1, 0.01)[1] != []  # at least one, when a class has two
    assert split_files(by_class, 123, 0.0)[1] == []


def test_the_same_seed_gives_the_same_folders_twice(tmp_path: Path, repository: Path) -> None:
    params = {"target_column": "finding", "image_column": "filename", "seed": 5}
    assert run(tmp_path, COMPONENT, params, _inputs(repository), step="one")[0] == 0
    assert run(tmp_path, COMPONENT, params, _inputs(repository), step="two")[0] == 0
    one = (step_folder(tmp_path, "one") / "images" / "split.json").read_text()
    assert one == (step_folder(tmp_path, "two") / "images" / "split.json").read_text()
    assert json.loads(one)["seed"] == 5


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/etc/passwd", "sub/../../x.png", "..\\..\\x.png"])
def test_a_path_leaving_the_images_folder_fails_naming_the_row_and_writes_nothing(
    tmp_path: Path, hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    claimed_repository(root, extra_rows=[{"patientid": "1000", "sex": "M", "age": "40", "finding": "No Finding",
                                          "filename": hostile}])
    code, manifest = run(tmp_path, COMPONENT, {}, _inputs(root))
    assert code == 1 and manifest is None
    assert f"row 42: image path {hostile!r} leaves the images folder" in capsys.readouterr().err
    assert not step_folder(tmp_path).exists() or list(step_folder(tmp_path).iterdir()) == []


def test_symlinks_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(1))
    rows = claimed_repository(root)
    (root / "images" / rows[5]["filename"]).unlink()
    (root / "images" / rows[5]["filename"]).symlink_to(secret)
    code, _ = run(tmp_path, COMPONENT, {}, _inputs(root))
    assert code == 1
    assert f"row 6: image {rows[5]['filename']!r} is a symlink" in capsys.readouterr().err
    assert leftovers(step_folder(tmp_path)) == [] and not (step_folder(tmp_path) / "images").exists()
    # a linked sub-folder pointing elsewhere is refused the same way
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.png").write_bytes(png(2))
    (root / "images" / "linked").symlink_to(outside)
    write_csv(root / "meta2.csv", [{"finding": "a", "filename": "linked/x.png"}])
    assert run(tmp_path, COMPONENT, {}, _inputs(root, "meta2.csv"))[0] == 1
    assert "leaves the images folder through a symlink" in capsys.readouterr().err


def test_missing_images_over_the_threshold_fail_with_examples_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    claimed_repository(root, per_class=5, missing=6)
    code, _ = run(tmp_path, COMPONENT, {"max_missing_fraction": 0.2}, _inputs(root))
    assert code == 1
    err = capsys.readouterr().err
    assert "7 of 21 rows (33.3%) have no usable image, more than parameters.max_missing_fraction (20.0%)" in err
    assert "6 missing (e.g. row 1: patient0001-0.png" in err and "1 not an image" in err
    assert not (step_folder(tmp_path) / "images").exists() and leftovers(step_folder(tmp_path)) == []
    assert run(tmp_path, COMPONENT, {"max_missing_fraction": 0.5}, _inputs(root))[0] == 0


def test_classes_that_collide_after_sanitising_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    (root / "images").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (root / "images" / name).write_bytes(png(3))
    write_csv(root / "metadata.csv", [{"finding": "Pneumonia/Viral", "filename": "a.png"},
                                      {"finding": "Pneumonia_Viral", "filename": "b.png"}])
    assert run(tmp_path, COMPONENT, {}, _inputs(root))[0] == 1
    assert "both become the folder name 'Pneumonia_Viral'" in capsys.readouterr().err


def test_unknown_columns_and_bad_parameters_are_named(tmp_path: Path, repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, COMPONENT, {"target_column": "diagnosis"}, _inputs(repository))[0] == 1
    assert "parameters.target_column: column 'diagnosis' is not in the table" in capsys.readouterr().err
    spec = registry.get(COMPONENT)
    _, problems = spec.validate_parameters({"validation_fraction": 1.0, "seed": -1, "zipp": True})
    assert {p.path for p in problems} == {"validation_fraction", "seed", "zipp"}


def test_zip_holds_the_same_layout(tmp_path: Path, repository: Path) -> None:
    code, manifest = run(tmp_path, COMPONENT, {"zip": True}, _inputs(repository))
    assert code == 0 and manifest is not None
    archive = manifest["outputs"]["archive"]
    with zipfile.ZipFile(archive["uri"].removeprefix("file://")) as opened:
        names = set(opened.namelist())
        split = json.loads(opened.read("split.json"))
    assert names == {"split.json", *split["train"], *split["validation"]}
    assert archive["metadata"]["files"] == len(names)


def test_safe_names() -> None:
    assert safe_name("Pneumonia/Viral/COVID-19") == "Pneumonia_Viral_COVID-19"
    assert safe_name("..") == "_." and safe_name(".hidden") == "_hidden"
    assert safe_name(" No Finding ") == "No_Finding"
    assert safe_name("ARDS?") == "ARDS"
