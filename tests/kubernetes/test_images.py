"""The Dockerfiles cannot be built here (no Docker engine): check what can go stale offline."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "images").glob("*.Dockerfile"))


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _copy_sources(instructions: list[tuple[str, str]]) -> list[str]:
    sources: list[str] = []
    for keyword, rest in instructions:
        if keyword == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!")):
            ignored = not negate
    return ignored


def test_the_cpu_gpu_and_airflow_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {
        "airflow.Dockerfile", "component-cpu.Dockerfile", "component-gpu.Dockerfile", "component-spark.Dockerfile"
    }


def test_the_spark_image_matches_what_the_spark_application_names() -> None:
    from airgenome.components import registry
    from airgenome.components.data.spark_application import MAIN_APPLICATION_FILE, SPARK_VERSION

    instructions = _instructions(REPO / "images" / "component-spark.Dockerfile")
    assert instructions[0] == ("ARG", f"SPARK_VERSION={SPARK_VERSION}")
    assert instructions[1] == ("FROM", "apache/spark:${SPARK_VERSION}-scala2.13-java17-python3-ubuntu")
    installs = " ".join(rest for k, rest in instructions if k == "RUN")
    venv = MAIN_APPLICATION_FILE.removeprefix("local://").split("/lib/python3.11/")[0]
    assert f"uv venv --python 3.11 {venv}" in installs
    assert '"/tmp/airgenome[spark]" "pyspark==${SPARK_VERSION}"' in installs
    assert registry.get("spark.apply").images.cpu == "airgenome/component-spark:0.1.0"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_builds_from_a_base_and_installs_airgenome(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    keywords = [k for k, _ in instructions]
    assert "FROM" in keywords and set(keywords[: keywords.index("FROM")]) <= {"ARG"}
    assert any(k == "RUN" and "pip install" in rest and "/tmp/airgenome" in rest for k, rest in instructions)
    sources = _copy_sources(instructions)
    assert {"pyproject.toml", "README.md", "include", "operators"} <= set(sources)
    patterns = [
        line.strip()
        for line in (dockerfile.parent / f"{dockerfile.name}.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"
        assert not _ignored(source, patterns), f"{dockerfile.name}: COPY {source} is excluded from the build context"


def test_gpu_image_keeps_the_cuda_tensorflow_of_its_base() -> None:
    instructions = _instructions(REPO / "images" / "component-gpu.Dockerfile")
    assert instructions[0][1].startswith("tensorflow/tensorflow:") and instructions[0][1].endswith("-gpu")
    installs = " ".join(rest for k, rest in instructions if k == "RUN" and "pip install" in rest)
    assert "[fairness,robustness]" in installs and "image" not in installs.split("[", 1)[1].split("]")[0]
