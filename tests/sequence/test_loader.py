"""The loader under Airflow's real DagBag: a broken file never hides another sequence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from airgenome import settings
from airgenome.sequence.loader import error_for, load_errors, scan
from tests.sequence.helpers import echo, genome_payload, spec

DAGS = settings.REPO_ROOT / "dags"
HEAVY = ["sklearn", "tensorflow", "keras", "mlflow", "shap", "lime", "pandas", "xgboost", "torch"]
PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dags": {d: sorted(bag.dags[d].task_ids) for d in bag.dag_ids},
    "filelocs": sorted({bag.dags[d].fileloc for d in bag.dag_ids}),
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
}))
"""


def _bundle(tmp_path: Path) -> tuple[Path, Path]:
    bundle = tmp_path / "dags"
    (bundle / "sequences").mkdir(parents=True)
    for name in ("sequences_loader.py", "sequences_errors.py"):
        shutil.copy(DAGS / name, bundle / name)
    uploads = tmp_path / "home" / "uploads"
    uploads.mkdir(parents=True)
    return bundle, uploads


def _write(path: Path, document: object) -> None:
    path.write_text(document if isinstance(document, str) else json.dumps(document))


def _parse(bundle: Path, uploads: Path) -> dict:
    env = {**os.environ, "AIRGENOME_HOME": str(uploads.parent), "AIRGENOME_UPLOADS_FOLDER": str(uploads)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(bundle), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_one_bad_file_among_many_is_a_named_import_error_and_the_rest_load(tmp_path: Path) -> None:
    bundle, uploads = _bundle(tmp_path)
    (bundle / "sequences" / "genome.json").write_bytes(genome_payload("parallel"))
    _write(bundle / "sequences" / "nested.json", spec([echo("a"), [[echo("b1"), echo("b2")], echo("c")]], pipelineName="nested"))
    _write(bundle / "sequences" / "broken.json", spec([echo("a", timeout="1x")], pipelineName="broken"))
    _write(uploads / "uploaded.json", spec([echo("u")], pipelineName="uploaded", schedule="6h"))
    _write(uploads / "garbage.json", '{"pipelineName": "g", ')
    _write(uploads / "same-id.json", spec([echo("x")], pipelineName="nested"))
    _write(uploads / ".uploaded.123.tmp.json", "{")  # a half-written temp file is never read

    report = _parse(bundle, uploads)

    assert report["dags"] == {
        "pipe-1": ["step-1", "step-2a", "step-2b", "step-3"],
        "nested": ["a", "b1", "b2", "c"],
        "uploaded": ["u"],
    }
    assert report["filelocs"] == [str(bundle / "sequences_loader.py")]
    assert list(report["errors"]) == [str(bundle / "sequences_errors.py")]
    error = report["errors"][str(bundle / "sequences_errors.py")]
    assert "3 sequence files could not become DAGs (every other sequence loaded)" in error
    assert f"{bundle / 'sequences' / 'broken.json'}:" in error
    assert "steps[0].timeout: '1x' is not a duration like 360s, 30m, 6h or 1d" in error
    assert f"{uploads / 'garbage.json'}:" in error
    assert "$: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 23" in error
    assert f"pipelineName: DAG id 'nested' is already defined by {bundle / 'sequences' / 'nested.json'}" in error
    assert report["heavy"] == []


def test_all_valid_means_no_import_error_at_all(tmp_path: Path) -> None:
    bundle, uploads = _bundle(tmp_path)
    for name in ("sequential", "scheduled"):
        document = json.loads(genome_payload(name))
        document["pipelineName"] = name
        _write(uploads / f"{name}.json", document)
    report = _parse(bundle, uploads)
    assert sorted(report["dags"]) == ["scheduled", "sequential"]
    assert report["errors"] == {}


def test_shipped_sequences_all_load(tmp_path: Path) -> None:
    loaded, broken = scan([DAGS / "sequences"], mode="local")
    assert broken == []
    assert sorted(item.dag_id for item in loaded) == [
        "claimed-ct", "genome-parallel", "genome-scheduled", "genome-sequential", "nested-subchains",
    ]
    loaded_k8s, broken_k8s = scan([DAGS / "sequences"], mode="kubernetes")
    assert [b.path.name for b in broken_k8s] == ["nested-subchains.json"]  # components, no image


def test_load_errors_for_the_upload_api(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    _write(good, spec([echo("a")], pipelineName="good"))
    _write(bad, spec([echo("a", retry="x"), echo("a")], pipelineName="bad"))
    broken = load_errors([tmp_path])
    assert [b.to_dict() for b in broken] == [
        {
            "path": str(bad),
            "detail": broken[0].message,
            "errors": [
                {"loc": "steps[0].retry", "msg": "'x' is not a retry count (a whole number >= 0) like \"3\""},
                {"loc": "steps[1].stepName", "msg": "duplicate step name 'a' (also at steps[0])"},
            ],
        }
    ]
    assert error_for(good, [tmp_path]) is None
    found = error_for(bad, [tmp_path])
    assert found is not None and found.status_code == 422


def test_build_dags_pauses_the_collector_only_while_building(tmp_path: Path, monkeypatch) -> None:
    import gc

    from airgenome.build import loader

    _write(tmp_path / "one.json", spec([echo("a")], pipelineName="one"))
    seen: list[bool] = []
    real_scan = loader.scan

    def spying_scan(folders, **kwargs):
        seen.append(gc.isenabled())
        return real_scan(folders, **kwargs)

    monkeypatch.setattr(loader, "scan", spying_scan)
    assert gc.isenabled()
    assert sorted(loader.build_dags(__file__, [tmp_path])) == ["one"]
    assert seen == [False] and gc.isenabled()

    gc.disable()  # a caller that paused it itself keeps it paused
    try:
        assert sorted(loader.build_dags(__file__, [tmp_path])) == ["one"]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_worker_parsing_for_one_dag_builds_only_that_dag(tmp_path: Path, monkeypatch) -> None:
    # Airflow sets the parsing context when a task's process parses the DAG file for its task.
    from airgenome.build import loader

    _write(tmp_path / "one.json", spec([echo("a")], pipelineName="one"))
    _write(tmp_path / "two.json", spec([echo("a")], pipelineName="two"))
    monkeypatch.setattr(loader, "sequence_folders", lambda *args: [tmp_path])
    namespace: dict = {}
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "two")
    assert loader.publish_dags(namespace, __file__) == ["two"]
    assert sorted(namespace) == ["sequence_dag__two"]
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID")
    assert loader.publish_dags({}, __file__) == ["one", "two"]  # the DAG processor: every DAG


def test_a_worker_decides_who_owns_its_dag_as_the_dag_processor_does(tmp_path: Path, monkeypatch) -> None:
    from airgenome.sequence import loader as sequence_loader
    from airgenome.sequence.loader import scan

    # a.json is broken and names "two"; b.json owns "two"; c.json names it again (a duplicate);
    # d.json names another pipeline; e.json is not JSON at all.
    (tmp_path / "a.json").write_text(json.dumps({"pipelineName": "two", "steps": "nope"}))
    _write(tmp_path / "b.json", spec([echo("a")], pipelineName="two", description="b"))
    _write(tmp_path / "c.json", spec([echo("a")], pipelineName="two", description="c"))
    _write(tmp_path / "d.json", spec([echo("a")], pipelineName="one"))
    (tmp_path / "e.json").write_text("{not json")
    validated: list[str] = []
    real = sequence_loader._load_one
    monkeypatch.setattr(sequence_loader, "_load_one", lambda path, mode: validated.append(path.name) or real(path, mode))
    everything, _ = scan([tmp_path])
    validated.clear()
    worker, broken = scan([tmp_path], only="two")
    assert [item.path.name for item in worker] == ["b.json"]
    assert [item.path.name for item in everything if item.dag_id == "two"] == ["b.json"]
    assert validated == ["a.json", "b.json", "c.json", "e.json"]  # never d.json
    assert sorted(item.path.name for item in broken) == ["a.json", "c.json", "e.json"]


def test_a_component_described_after_a_scan_mends_the_sequence_that_used_it(tmp_path: Path, monkeypatch) -> None:
    """A long-lived process (the API server's pages, the scheduler's warm-up) caches each
    file's verdict; a new component changes the registry's generation, so the verdict too."""
    from airgenome.components import registry

    components = tmp_path / "components"
    components.mkdir()
    monkeypatch.setenv("AIRGENOME_COMPONENTS_FOLDER", str(components))
    registry.REGISTRY.reload()
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "late.json").write_text(json.dumps(
        {"pipelineName": "late", "application": "a", "steps": [{"stepName": "d", "component": "transform.late-dedupe"}]}
    ))
    loaded, broken = scan([folder], mode="kubernetes")
    assert (loaded, [b.path.name for b in broken]) == ([], ["late.json"])
    assert "transform.late-dedupe" in broken[0].message
    (components / "dedupe.json").write_text(json.dumps({
        "name": "transform.late-dedupe", "summary": "dedupe", "image": "registry.example/dedupe:1",
        "command": ["dedupe"], "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    }))
    loaded, broken = scan([folder], mode="kubernetes")
    assert ([item.dag_id for item in loaded], broken) == (["late"], [])
    registry.REGISTRY.reload()
