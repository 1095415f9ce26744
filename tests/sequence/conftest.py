"""Sequencer tests run against the documented platform defaults."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _default_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the documented defaults unless they set a variable themselves."""
    for name in (
        "AIRGENOME_EXECUTION_MODE",
        "AIRGENOME_GPU_SLOTS",
        "AIRGENOME_GPU_POOL",
        "AIRGENOME_ALLOWED_IMAGES",
        "AIRGENOME_MAX_SEQUENCE_BYTES",
        "AIRGENOME_MAX_STEPS",
        "AIRGENOME_MAX_GROUP_WIDTH",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.replace("AIRGENOME_", "AIRFLOW__AIRGENOME__"), raising=False)
    # Kubernetes-mode tests here are about the sequencer, on a platform that allows every image;
    # the production default (an empty allow-list refuses every image) is tested in
    # tests/foundation/test_settings.py and tests/kubernetes/test_pod_manifest.py.
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "*")

