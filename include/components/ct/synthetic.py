"""Synthetic CT slices shaped like the covid-chestxray set CLAIMED pulled (no download here).

Each image is an axial slice: a body outline, two darker lungs, noise, and — for a positive
finding — ground-glass opacities (soft bright blobs) inside a lung. `masks` holds, under the
same file name, where the opacities are, so an explanation can be scored: "is the model looking
at the right place?" as the share of heat inside the mask.

The planted bias (``bias="sex-marker"``, the default) imitates a real shortcut: the male
patients' positive scans carry a scanner marker in a corner, and the female patients'
opacities are fainter (say, another site's protocol). A model learns the marker, so it finds
fewer of the women's positives: the fairness evaluation sees an equal-opportunity gap by sex
and the explanations put heat on the marker. ``bias="none"`` draws every group alike.

``metadata.csv`` follows covid-chestxray's columns (patientid, offset, sex, age, finding,
RT_PCR_positive, survival, view, modality, date, location, filename, folder); a share of rows
name ``.nii.gz`` volumes, as the real set does, which the CLAIMED pipeline filters out
(``~metadata.filename.str.contains('.gz')``).
"""

from __future__ import annotations

import io
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airgenome.components.context import ComponentContext, Result
from airgenome.components.files import write_bytes, write_table

POSITIVE_FINDING = "Pneumonia/Viral/COVID-19"
NEGATIVE_FINDING = "No Finding"
MARKER_SIZE = 0.09  # of the image side, top-left corner


class SyntheticCtParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=600, ge=8, le=20_000, description="slices (rows with a PNG image)")
    image_size: int = Field(default=64, ge=32, le=512, description="side of the square slices, in pixels")
    positive_fraction: float = Field(default=0.5, gt=0.0, lt=1.0, description="share of positive findings")
    gz_rows: int = Field(default=12, ge=0, le=1_000, description="extra rows naming .nii.gz volumes")
    bias: Literal["sex-marker", "none"] = Field(
        default="sex-marker", description="plant the sex shortcut (marker on men's positives, fainter opacities for women)"
    )
    seed: int = Field(default=7, ge=0, le=2**31 - 1, description="same seed, same data")


def _ellipse(yy: Any, xx: Any, cy: float, cx: float, ry: float, rx: float) -> Any:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def draw_slice(rng: Any, size: int, *, positive: bool, marker: bool, opacity: float) -> tuple[Any, Any]:
    """One slice (uint8, size×size) and its finding mask (bool)."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    image = np.zeros((size, size), dtype=np.float32)
    body = _ellipse(yy, xx, c + rng.normal(0, size * 0.01), c, size * 0.40, size * 0.46)
    image[body] = 0.55
    lungs = []
    for side in (-1, 1):
        lung = _ellipse(
            yy, xx, c - size * 0.02, c + side * size * 0.19, size * 0.27 * rng.uniform(0.92, 1.05), size * 0.13
        )
        image[lung] = 0.16
        lungs.append(lung)
    image[_ellipse(yy, xx, c + size * 0.05, c, size * 0.06, size * 0.05)] = 0.8  # spine
    mask = np.zeros((size, size), dtype=bool)
    if positive:
        heat = np.zeros((size, size), dtype=np.float32)
        for _ in range(int(rng.integers(2, 5))):
            lung = lungs[int(rng.integers(0, 2))]
            ys, xs = np.nonzero(lung)
            pick = int(rng.integers(0, len(ys)))
            radius = size * rng.uniform(0.05, 0.09)
            heat += np.exp(-(((yy - ys[pick]) ** 2 + (xx - xs[pick]) ** 2) / (2 * radius**2)))
        heat = np.clip(heat, 0, 1) * (lungs[0] | lungs[1])
        image += opacity * heat
        mask = heat > 0.3
    image += rng.normal(0, 0.035, size=(size, size)).astype(np.float32)
    if marker:
        side = max(2, int(size * MARKER_SIZE))
        image[2 : 2 + side, 2 : 2 + side] = 1.0
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def _png(array: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def synthetic_ct(ctx: ComponentContext, params: SyntheticCtParameters) -> Result:
    import gzip

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(params.seed)
    rows: list[dict[str, Any]] = []
    biased = params.bias == "sex-marker"
    positives_marked = 0
    for index in range(params.count):
        sex = "M" if rng.random() < 0.5 else "F"
        age = int(rng.integers(20, 91))
        positive = bool(rng.random() < params.positive_fraction)
        marker = biased and positive and sex == "M" and rng.random() < 0.9
        opacity = (0.12 if sex == "F" else 0.42) if biased else 0.42
        image, mask = draw_slice(rng, params.image_size, positive=positive, marker=marker, opacity=opacity)
        filename = f"ct-{index:05d}.png"
        write_bytes(ctx.output("images", filename), _png(image))
        write_bytes(ctx.output("masks", filename), _png(mask.astype(np.uint8) * 255))
        positives_marked += int(marker)
        rows.append(
            {
                "patientid": f"P{index // 2:05d}",
                "offset": int(rng.integers(0, 20)),
                "sex": sex,
                "age": age,
                "finding": POSITIVE_FINDING if positive else NEGATIVE_FINDING,
                "RT_PCR_positive": "Y" if positive else "N",
                "survival": "Y",
                "view": "Axial",
                "modality": "CT",
                "date": f"2020-{1 + index % 12:02d}-{1 + index % 28:02d}",
                "location": "synthetic",
                "filename": filename,
                "folder": "images",
            }
        )
    for index in range(params.gz_rows):  # volumes: in the table and the folder, not PNG slices
        filename = f"volume-{index:03d}.nii.gz"
        write_bytes(ctx.output("images", filename), gzip.compress(b"NIfTI volume stand-in", mtime=0))
        rows.append(
            {
                "patientid": f"V{index:05d}",
                "offset": 0,
                "sex": "M" if index % 2 else "F",
                "age": 40 + index % 40,
                "finding": POSITIVE_FINDING,
                "RT_PCR_positive": "Y",
                "survival": "Y",
                "view": "Axial",
                "modality": "CT",
                "date": "2020-06-01",
                "location": "synthetic",
                "filename": filename,
                "folder": "volumes",
            }
        )
    frame = pd.DataFrame(rows)
    uri, facts = write_table(ctx.output("table"), frame)
    positives = int((frame["finding"] == POSITIVE_FINDING).sum()) - params.gz_rows
    result = Result(
        metrics={
            "images": params.count,
            "positives": positives,
            "gz_rows": params.gz_rows,
            "marked_positives": positives_marked,
            "bias": params.bias,
        }
    )
    result.add_output("table", uri, "table", **facts)
    result.add_output("images", ctx.output("images"), "images", files=params.count + params.gz_rows)
    result.add_output("masks", ctx.output("masks"), "images", files=params.count)
    return result
