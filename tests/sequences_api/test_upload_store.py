"""The uploads folder: atomic writes (a crash or a race never leaves a torn file), list, delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airgenome.errors import Conflict, InvalidInput, NotFound
from airgenome.sequence.uploads import TEMP_MAX_AGE_S, UploadStore


@pytest.fixture
def store(tmp_path: Path) -> UploadStore:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    # A shipped file's name need not be its DAG id: the store reads its pipelineName.
    shipped = {
        "pipelineName": "shipped",
        "application": "a",
        "steps": [{"stepName": "s", "component": "genome.echo"}],
    }
    (bundled / "some-file.json").write_text(json.dumps(shipped))
    (bundled / "broken.json").write_text('{"pipelineName": "broken"')
    return UploadStore(folder=tmp_path / "uploads", bundled=bundled)


def test_write_read_list_delete(store: UploadStore) -> None:
    stored, replaced = store.write("pipe-1", b'{"v": 1}')
    assert replaced is False
    assert stored.path == store.folder / "pipe-1.json"
    assert store.get("pipe-1").read_bytes() == b'{"v": 1}'

    again, replaced = store.write("pipe-1", b'{"v": 2}')
    assert replaced is True
    assert again.read_bytes() == b'{"v": 2}'

    listed = [(item.dag_id, item.origin) for item in store.list_all()]
    assert listed == [("broken", "bundled"), ("pipe-1", "upload"), ("shipped", "bundled")]

    assert store.delete("pipe-1").dag_id == "pipe-1"
    with pytest.raises(NotFound, match="sequence 'pipe-1' does not exist"):
        store.get("pipe-1")
    with pytest.raises(NotFound, match="sequence 'pipe-1' does not exist"):
        store.delete("pipe-1")


def test_bundled_sequences_are_read_only(store: UploadStore) -> None:
    with pytest.raises(Conflict, match="dag_id 'shipped' belongs to the sequence shipped as .*some-file.json"):
        store.write("shipped", b"{}")
    with pytest.raises(Conflict, match="dag_id 'broken' belongs to the sequence shipped as .*broken.json"):
        store.write("broken", b"{}")
    with pytest.raises(Conflict, match="sequence 'shipped' is shipped in the DAG bundle"):
        store.delete("shipped")
    assert store.get("shipped").origin == "bundled"
    assert store.get("shipped").path.name == "some-file.json"
    assert not store.folder.exists()


@pytest.mark.parametrize("dag_id", ["../etc/passwd", ".hidden", "a/b", "", "x" * 251, "sp ace"])
def test_unsafe_dag_ids_are_refused(store: UploadStore, dag_id: str) -> None:
    with pytest.raises(InvalidInput, match="dag_id: .* must be 1-250 letters"):
        store.write(dag_id, b"{}")
    assert not store.folder.exists() or list(store.folder.iterdir()) == []


def test_uploads_folder_inside_the_dag_bundle_is_refused(tmp_path: Path) -> None:
    from airgenome import settings

    with pytest.raises(InvalidInput, match="is inside the DAG bundle"):
        UploadStore(folder=settings.dags_folder() / "uploads", bundled=tmp_path)


CRASH_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from airgenome.sequence.uploads import UploadStore

    store = UploadStore(folder=Path(sys.argv[1]), bundled=Path(sys.argv[2]))
    def die(src, dst):  # the process dies after the temp file is written, before rename
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace = die
    store.write("pipe-1", b'{"v": "new"}')
    """
)


def test_a_crash_between_temp_write_and_rename_keeps_the_old_file(store: UploadStore) -> None:
    store.write("pipe-1", b'{"v": "old"}')
    result = subprocess.run(
        [sys.executable, "-c", CRASH_WRITER, str(store.folder), str(store.bundled)],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr.decode()
    # The old file is whole; the dead writer's temp file exists but is invisible to readers.
    assert store.get("pipe-1").read_bytes() == b'{"v": "old"}'
    leftovers = [p.name for p in store.folder.iterdir() if p.name != "pipe-1.json"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".pipe-1.") and leftovers[0].endswith(".tmp")
    assert [item.dag_id for item in store.list_all() if item.origin == "upload"] == ["pipe-1"]
    assert json.loads(store.get("pipe-1").read_bytes()) == {"v": "old"}

    # A later write sweeps temp files once they are old enough to be a dead writer's.
    stale = store.folder / leftovers[0]
    old = time.time() - TEMP_MAX_AGE_S - 10
    os.utime(stale, (old, old))
    store.write("pipe-1", b'{"v": "newer"}')
    assert sorted(p.name for p in store.folder.iterdir()) == ["pipe-1.json"]


def test_a_failed_write_leaves_no_temp_file_and_the_old_content(
    store: UploadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("pipe-1", b'{"v": "old"}')

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        store.write("pipe-1", b'{"v": "new"}')
    monkeypatch.undo()
    assert sorted(p.name for p in store.folder.iterdir()) == ["pipe-1.json"]
    assert store.get("pipe-1").read_bytes() == b'{"v": "old"}'


CONCURRENT_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from airgenome.sequence.uploads import UploadStore

    store = UploadStore(folder=Path(sys.argv[1]), bundled=Path(sys.argv[2]))
    writer = sys.argv[3]
    for i in range(150):
        # big enough that a torn write would be visible to the reader
        store.write("pipe-1", ('{"writer": "%s", "i": %d, "pad": "%s"}' % (writer, i, writer * 20000)).encode())
    """
)


def test_concurrent_writers_never_expose_a_torn_file(store: UploadStore) -> None:
    store.write("pipe-1", b'{"writer": "seed", "i": -1, "pad": ""}')
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(store.folder), str(store.bundled), name]
        )
        for name in ("a", "b", "c")
    ]
    seen: set[str] = set()
    reads = 0
    while any(w.poll() is None for w in writers):
        document = json.loads(store.get("pipe-1").read_bytes())  # a torn file would not parse
        assert document["pad"] == document["writer"] * 20000 or document["writer"] == "seed"
        seen.add(document["writer"])
        reads += 1
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0]
    final = json.loads(store.get("pipe-1").read_bytes())
    assert final["writer"] in {"a", "b", "c"} and final["i"] == 149
    assert sorted(p.name for p in store.folder.iterdir()) == ["pipe-1.json"]
    assert reads > 0 and seen & {"a", "b", "c"}
