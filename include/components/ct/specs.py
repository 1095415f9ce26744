"""Component specs of the CT demo (registered by airgenome.components.catalogue). Cheap to import."""

from __future__ import annotations

from airgenome.components.ct.synthetic import SyntheticCtParameters
from airgenome.components.registry import ComponentSpec, Port, lazy

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="input.synthetic-ct",
        summary="synthetic CT slices (body, lungs, ground-glass opacities) with a covid-chestxray-shaped "
        "metadata table, finding masks and an optional planted sex bias",
        load=lazy("airgenome.components.ct.synthetic", "synthetic_ct"),
        params=SyntheticCtParameters,
        outputs={
            "table": Port("table", "metadata: patientid, sex, age, finding, filename, ..."),
            "images": Port("images", "the slices as PNG files (and .nii.gz volume stand-ins), by file name"),
            "masks": Port("images", "where each positive slice's opacities are, same file names"),
        },
        example={"count": 600, "image_size": 64, "bias": "sex-marker", "seed": 7},
    ),
)
