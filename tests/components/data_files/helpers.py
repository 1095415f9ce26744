"""Shared helpers of the data file component tests: run a component in-process, CLAIMED-like data."""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path
from typing import Any

from airgenome.components.runtime import main

FINDINGS = (
    "Pneumonia/Viral/COVID-19",
    "Pneumonia/Bacterial/Streptococcus",
    "No Finding",
    "Pneumonia/Viral/SARS",
)


def png(seed: int, size: int = 4) -> bytes:
    """A real, tiny grey PNG (no PIL needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes((seed * 7 + x + y) % 256 for x in range(size)) for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def claimed_repository(
    root: Path, per_class: int = 10, missing: int = 2, extra_rows: list[dict[str, str]] | None = None
) -> list[dict[str, str]]:
    """metadata.csv + images/ like ieee8023/covid-chestxray-dataset: findings with '/', some
    images missing, one CT volume row (.nii.gz, not an image), sex and age columns."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    number = 0
    for klass_index, finding in enumerate(FINDINGS):
        for i in range(per_class):
            number += 1
            name = f"patient{number:04d}-{i}.png"
            rows.append({"patientid": str(number), "sex": "MF"[i % 2], "age": str(20 + i * 3 + klass_index),
                         "finding": finding, "filename": name})
            (images / name).write_bytes(png(number))
    for row in rows[:missing]:  # listed, never downloaded
        (images / row["filename"]).unlink()
    rows.append({"patientid": "999", "sex": "F", "age": "61", "finding": "Pneumonia/Viral/COVID-19",
                 "filename": "coronacases_org_001.nii.gz"})
    (images / "coronacases_org_001.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 64)
    rows.extend(extra_rows or [])
    write_csv(root / "metadata.csv", rows)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run(
    tmp_path: Path, component: str, parameters: dict[str, Any], inputs: dict[str, Any] | None = None,
    step: str = "step", **extra: str,
) -> tuple[int, dict[str, Any] | None]:
    """The runtime's entrypoint in this process; (exit code, manifest or None)."""
    result = tmp_path / f"result-{step}.json"
    result.unlink(missing_ok=True)
    env = {
        "PIPELINE_NAME": "p",
        "PIPELINE_RUNID": "r1",
        "STEP_NAME": step,
        "AIRGENOME_HOME": str(tmp_path / "home"),
        "AIRGENOME_LAKE_ROOT": str(tmp_path / "lake"),
        "AIRGENOME_RESULT_PATH": str(result),
        "AIRGENOME_EVALUATION_STORE_URI": f"sqlite:///{tmp_path / 'evaluations.db'}",
        "PARAMETERS": json.dumps(parameters),
        "AIRGENOME_INPUTS": json.dumps(inputs or {}),
        **extra,
    }
    code = main([component], env)
    return code, (json.loads(result.read_text()) if result.exists() else None)


def step_folder(tmp_path: Path, step: str = "step") -> Path:
    return tmp_path / "lake" / "runs" / "p" / "r1" / step


def leftovers(folder: Path) -> list[str]:
    """Temporary names a failed step must not leave behind."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp" in p.name or ".old-" in p.name or p.name.startswith(".source-"))
