"""Shared helpers: synthetic class folders, a step environment, running a component in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airgenome.components.runtime import main
from airgenome.settings import StoreLocations


def env(root: Path, step: str, parameters: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, str]:
    """A step environment on stores and a lake under ``root`` (shared by steps of one test module)."""
    return {
        "PIPELINE_NAME": "train-eval",
        "PIPELINE_RUNID": "manual__1",
        "STEP_NAME": step,
        "AIRGENOME_HOME": str(root / "home"),
        "AIRGENOME_LAKE_ROOT": str(root / "lake"),
        "AIRGENOME_RESULT_PATH": str(root / f"{step}.result.json"),
        "PARAMETERS": json.dumps(parameters),
        "AIRGENOME_INPUTS": json.dumps(inputs or {}),
        **StoreLocations.under(root / "stores").as_env(),
    }


def run(component: str, root: Path, step: str, parameters: dict[str, Any], inputs: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """Exit code and manifest (empty when none was written) of one step, in this process."""
    environment = env(root, step, parameters, inputs)
    result = Path(environment["AIRGENOME_RESULT_PATH"])
    result.unlink(missing_ok=True)
    code = main([component], environment)
    return code, json.loads(result.read_text()) if result.exists() else {}


def square_images(
    folder: Path,
    per_class: int,
    *,
    sizes: tuple[int, ...] = (32,),
    seed: int = 0,
    classes: tuple[str, ...] = ("bright", "dark"),
) -> Path:
    """Class folders of grayscale PNGs: a bright or a dark square on mid-grey noise (trivially
    separable by the square's brightness); image sizes cycle through ``sizes``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    levels = {"bright": 235, "dark": 20, "medium": 128}
    for cls in classes:
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = sizes[i % len(sizes)]
            image = rng.normal(128, 20, (size, size)).clip(0, 255)
            side = size // 2
            top, left = rng.integers(0, size - side, 2)
            image[top : top + side, left : left + side] = levels[cls] + rng.normal(0, 8, (side, side))
            Image.fromarray(image.clip(0, 255).astype("uint8"), mode="L").save(folder / cls / f"{cls}-{i:03d}.png")
    return folder


def images_input(folder: Path) -> dict[str, Any]:
    return {"images": {"uri": folder.as_uri(), "kind": "images"}}
