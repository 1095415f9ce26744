"""Genome payloads that name only an image: which component that image packages.

The component catalogue itself is `airgenome.components.registry`; this maps the image
repositories of Genome's examples (without registry and tag) to the component they package,
so such a step can run in local mode.
"""

from __future__ import annotations

IMAGE_COMPONENTS: dict[str, str] = {
    "ensemble-training": "train.sklearn-forest",
    "housing-ca-forest-model": "train.sklearn-forest",
    "airgenome-echo": "genome.echo",
}


def image_repository(image: str) -> str:
    """``registry:5000/team/ensemble-training:local.3@sha256:..`` -> ``ensemble-training``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def component_for_image(image: str) -> str | None:
    return IMAGE_COMPONENTS.get(image_repository(image))
