"""Parallel steps are separate processes writing one SQLite store, fresh or not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

WRITER = """
import sys
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from airgenome.models.client import ModelStore

data = load_diabetes()
model = LinearRegression().fit(data.data, data.target)
for i in range(3):
    ModelStore().save_model(model, {
        "canonicalName": "/parallel/same", "application": "a", "pipelineName": "p",
        "pipelineRunId": sys.argv[1], "pipelineStage": "s", "framework": "sklearn",
        "inputModality": "tabular", "versionName": f"{sys.argv[1]}.{i}"})
"""


@pytest.mark.slow
def test_parallel_writers_on_a_fresh_store(tmp_path) -> None:
    env = dict(
        os.environ,
        AIRGENOME_MODEL_STORE_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        AIRGENOME_MODEL_ARTIFACTS=str(tmp_path / "artifacts"),
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, f"w{n}"], env=env, stderr=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=600)
        assert writer.returncode == 0, stderr[-3000:]

    from airgenome.models.client import ModelStore

    store = ModelStore(env["AIRGENOME_MODEL_STORE_URI"], artifacts=env["AIRGENOME_MODEL_ARTIFACTS"])
    versions = store.versions("/parallel/same")
    assert sorted(v.version for v in versions) == list(range(1, 7))
    assert sorted(v.version_name for v in versions) == sorted(f"w{n}.{i}" for n in range(2) for i in range(3))
