"""input.url and input.repository: local files and folders, a local HTTP server, bad input refused."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airgenome.components import registry

from .helpers import claimed_repository, leftovers, png, run, step_folder, write_csv

CSV = b"patientid,finding,filename\n1,Pneumonia/Viral/COVID-19,a.png\n2,No Finding,b.png\n"
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n"


class Routes:
    """path -> (status, content type, body, send Content-Length)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes, bool]] = {}
        self.hits: list[str] = []

    def add(self, path: str, body: bytes, content_type: str = "text/csv", status: int = 200, length: bool = True) -> None:
        self.routes[path] = (status, content_type, body, length)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Routes]]:
    routes = Routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            routes.hits.append(self.path)
            status, content_type, body, length = routes.routes.get(self.path, (404, "text/plain", b"not found", True))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)  # HTTP/1.0 without Content-Length: the body ends at close

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- input.url


def test_a_local_csv_becomes_a_table_with_the_source_checksum(tmp_path: Path) -> None:
    source = tmp_path / "metadata.csv"
    source.write_bytes(CSV)
    for url in (f"file://{source}", str(source)):
        code, manifest = run(tmp_path, "input.url", {"url": url, "expect": "csv", "as_table": True})
        assert code == 0 and manifest is not None
        table = manifest["outputs"]["table"]
        assert table["metadata"]["rows"] == 2
        assert table["metadata"]["source_sha256"] == hashlib.sha256(CSV).hexdigest()
        frame = pd.read_parquet(table["uri"].removeprefix("file://"))
        assert list(frame["finding"]) == ["Pneumonia/Viral/COVID-19", "No Finding"]
    assert leftovers(step_folder(tmp_path)) == []
    # the lake itself, by Genome's mllake:// reference
    code, manifest = run(tmp_path, "input.url", {"url": "mllake://runs/p/r1/step/table/table.parquet", "expect": "parquet"},
                         step="again")
    assert code == 0 and manifest is not None
    assert manifest["outputs"]["file"]["uri"].endswith("/again/file/table.parquet")


def test_a_local_file_is_copied_as_a_file_and_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "x.png"
    source.write_bytes(png(1))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    code, manifest = run(tmp_path, "input.url", {"url": f"file://{source}", "expect": "images", "sha256": digest})
    assert code == 0 and manifest is not None
    assert manifest["outputs"]["file"]["metadata"]["sha256"] == digest
    assert Path(manifest["outputs"]["file"]["uri"].removeprefix("file://")).read_bytes() == source.read_bytes()
    code, _ = run(tmp_path, "input.url", {"url": f"file://{source}", "sha256": "0" * 64}, step="bad")
    assert code == 1 and leftovers(step_folder(tmp_path, "bad")) == []
    assert not (step_folder(tmp_path, "bad") / "file" / "x.png").exists()


def test_a_folder_is_copied_symlinks_inside_followed_symlinks_out_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(png(1))
    (folder / "sub" / "b.png").write_bytes(png(2))
    (folder / "same.png").symlink_to(folder / "a.png")
    code, manifest = run(tmp_path, "input.url", {"url": f"file://{folder}", "expect": "images"})
    assert code == 0 and manifest is not None
    out = step_folder(tmp_path) / "images"  # a folder of images is an images output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "same.png", "sub/b.png"]
    assert not (out / "same.png").is_symlink() and manifest["outputs"]["images"]["metadata"]["files"] == 3
    assert manifest["outputs"]["images"]["kind"] == "images"

    (tmp_path / "secret.txt").write_text("secret")
    (folder / "leak.png").symlink_to(tmp_path / "secret.txt")
    assert run(tmp_path, "input.url", {"url": f"file://{folder}"}, step="leak")[0] == 1
    assert "'leak.png' is a symlink out of the input folder" in capsys.readouterr().err
    assert not (step_folder(tmp_path, "leak") / "folder").exists() and leftovers(step_folder(tmp_path, "leak")) == []
    (folder / "leak.png").unlink()
    code, manifest = run(tmp_path, "input.url", {"url": str(folder)}, step="any")
    assert code == 0 and manifest is not None and manifest["outputs"]["folder"]["kind"] == "folder"
    assert run(tmp_path, "input.url", {"url": f"file://{folder}", "max_files": 2}, step="many")[0] == 1
    assert "more than parameters.max_files (2)" in capsys.readouterr().err
    (folder / "notes.txt").write_text("hello")
    assert run(tmp_path, "input.url", {"url": f"file://{folder}", "expect": "images"}, step="txt")[0] == 1
    assert "1 file(s) are not images (e.g. notes.txt)" in capsys.readouterr().err


def test_a_csv_over_http_becomes_a_table(tmp_path: Path, server: tuple[str, Routes]) -> None:
    base, routes = server
    routes.add("/data/metadata.csv", CSV, "text/csv; charset=utf-8")
    code, manifest = run(tmp_path, "input.url", {"url": f"{base}/data/metadata.csv", "expect": "csv", "as_table": True})
    assert code == 0 and manifest is not None
    table = manifest["outputs"]["table"]["metadata"]
    assert table["rows"] == 2 and table["content_type"] == "text/csv; charset=utf-8"
    assert table["source_sha256"] == hashlib.sha256(CSV).hexdigest()
    code, manifest = run(tmp_path, "input.url", {"url": f"{base}/data/metadata.csv"}, step="raw")
    assert code == 0 and manifest is not None
    assert Path(manifest["outputs"]["file"]["uri"].removeprefix("file://")).read_bytes() == CSV


@pytest.mark.parametrize(
    ("path", "content_type", "expect"),
    [("/login.csv", "text/html; charset=utf-8", "csv"), ("/sneaky.csv", "text/csv", "csv"),
     ("/sneaky.parquet", "application/octet-stream", "parquet")],
)
def test_an_html_page_instead_of_the_data_is_refused(
    tmp_path: Path, server: tuple[str, Routes], capsys: pytest.CaptureFixture[str], path: str, content_type: str, expect: str
) -> None:
    base, routes = server
    routes.add(path, HTML, content_type)
    code, manifest = run(tmp_path, "input.url", {"url": f"{base}{path}", "expect": expect, "as_table": True})
    assert code == 1 and manifest is None
    assert f"is an HTML page (content type {content_type.split(';')[0]}), not a {expect} file" in capsys.readouterr().err
    assert leftovers(step_folder(tmp_path)) == [] and not (step_folder(tmp_path) / "table").exists()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "streamed"])
def test_a_body_over_the_limit_is_refused_and_nothing_is_kept(
    tmp_path: Path, server: tuple[str, Routes], capsys: pytest.CaptureFixture[str], length: bool
) -> None:
    base, routes = server
    body = CSV + b"3,No Finding,c.png\n" * 5000
    routes.add(f"/big-{length}.csv", body, length=length)
    code, _ = run(tmp_path, "input.url", {"url": f"{base}/big-{length}.csv", "expect": "csv", "max_bytes": 10_000})
    assert code == 1
    err = capsys.readouterr().err
    assert "larger than parameters.max_bytes (9.8 KiB)" in err
    assert ("(Content-Length)" in err) is length
    assert leftovers(step_folder(tmp_path)) == [] and list((step_folder(tmp_path) / "file").glob("*")) == []


def test_http_errors_and_bad_urls(tmp_path: Path, server: tuple[str, Routes], capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = server
    assert run(tmp_path, "input.url", {"url": f"{base}/nothing.csv"})[0] == 1
    assert "HTTP 404 Not Found" in capsys.readouterr().err
    spec = registry.get("input.url")
    for bad, message in [
        ({"url": "ftp://example.org/x.csv"}, "scheme 'ftp' is not supported"),
        ({"url": "relative/x.csv"}, "must be an absolute path or a URL"),
        ({"url": "file:///data/../etc/passwd"}, "'..' segments are not allowed"),
        ({"url": "https://user:pw@example.org/x.csv"}, "credentials in the URL are not allowed"),
        ({"url": "file://tmp/x.csv"}, "three slashes"),
        ({"url": "https://example.org/x", "as_table": True}, "as_table needs expect 'csv' or 'parquet'"),
    ]:
        _, problems = spec.validate_parameters(bad)
        assert problems and message in problems[0].message, (bad, problems)
    # an object store other than the lake's is refused at run time
    assert run(tmp_path, "input.url", {"url": "s3://bucket/x.csv"}, step="s3")[0] == 1
    assert "s3:// is not the lake's object store (file://)" in capsys.readouterr().err


def test_a_parquet_over_http_and_a_malformed_csv(tmp_path: Path, server: tuple[str, Routes], capsys: pytest.CaptureFixture[str]) -> None:
    base, routes = server
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(buffer)
    routes.add("/t.parquet", buffer.getvalue(), "application/octet-stream")
    code, manifest = run(tmp_path, "input.url", {"url": f"{base}/t.parquet", "expect": "parquet", "as_table": True})
    assert code == 0 and manifest is not None and manifest["outputs"]["table"]["metadata"]["rows"] == 3
    routes.add("/broken.csv", b"a,b\n1,2\n3,4,5,6\n")
    assert run(tmp_path, "input.url", {"url": f"{base}/broken.csv", "expect": "csv", "as_table": True}, step="b")[0] == 1
    assert "malformed csv: Error tokenizing data. C error: Expected 2 fields in line 3, saw 4" in capsys.readouterr().err
    routes.add("/empty.csv", b"a,b\n")
    assert run(tmp_path, "input.url", {"url": f"{base}/empty.csv", "expect": "csv", "as_table": True}, step="e")[0] == 1
    assert "the csv has a header but no rows" in capsys.readouterr().err


# --------------------------------------------------------------------------- input.repository


def _check_repository(manifest: dict[str, Any], expected_files: int) -> None:
    table = pd.read_parquet(manifest["outputs"]["table"]["uri"].removeprefix("file://"))
    assert "Pneumonia/Viral/COVID-19" in set(table["finding"]) and len(table) == 41
    images = Path(manifest["outputs"]["images"]["uri"].removeprefix("file://"))
    assert len(list(images.iterdir())) == expected_files
    assert manifest["outputs"]["images"]["metadata"]["problems"]["missing"]["count"] == 2


def test_a_local_repository_is_pulled_and_feeds_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    claimed_repository(root)
    code, manifest = run(tmp_path, "input.repository", {"source": str(root), "required_columns": ["finding"]}, step="pull")
    assert code == 0 and manifest is not None
    _check_repository(manifest, 39)  # 38 images and the .nii.gz volume
    inputs = {name: {"uri": o["uri"], "kind": o["kind"]} for name, o in manifest["outputs"].items()}
    code, classes = run(tmp_path, "transform.images-to-class-folders", {}, inputs, step="classes")
    assert code == 0 and classes is not None and classes["metrics"]["images"] == 38


def test_a_repository_over_http(tmp_path: Path, server: tuple[str, Routes]) -> None:
    base, routes = server
    root = tmp_path / "repo"
    rows = claimed_repository(root)
    routes.add("/covid/metadata.csv", (root / "metadata.csv").read_bytes())
    for row in rows:
        path = root / "images" / row["filename"]
        if path.exists():
            routes.add(f"/covid/images/{row['filename']}", path.read_bytes(), "image/png")
    code, manifest = run(tmp_path, "input.repository", {"source": f"{base}/covid", "concurrency": 4})
    assert code == 0 and manifest is not None
    _check_repository(manifest, 39)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (b"finding,filename\nA,../../etc/passwd\n", "metadata.csv row 1 (CSV line 2): image path '../../etc/passwd' leaves"),
        (b"finding,filename\nA,a.png\nB,b.png,extra,fields\n", "malformed csv: Error tokenizing data"),
        (b"finding,name\nA,a.png\n", "parameters.image_column: metadata.csv has no column(s) 'filename'"),
        (b"finding,filename\n", "the csv has a header but no rows"),
        (HTML, "metadata.csv: the source is an HTML page"),
    ],
    ids=["traversal", "malformed", "missing-column", "empty", "html"],
)
def test_bad_repositories_are_refused_naming_the_row_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metadata: bytes, message: str
) -> None:
    root = tmp_path / "repo"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(png(1))
    (root / "metadata.csv").write_bytes(metadata)
    code, manifest = run(tmp_path, "input.repository", {"source": f"file://{root}"})
    assert code == 1 and manifest is None
    assert message in capsys.readouterr().err
    assert not step_folder(tmp_path).exists() or sorted(p.name for p in step_folder(tmp_path).iterdir()) == []


def test_a_repository_symlink_out_of_the_images_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    (root / "images").mkdir(parents=True)
    (tmp_path / "passwd").write_text("root:x:0:0")
    (root / "images" / "a.png").symlink_to(tmp_path / "passwd")
    write_csv(root / "metadata.csv", [{"finding": "A", "filename": "a.png"}])
    assert run(tmp_path, "input.repository", {"source": str(root)})[0] == 1
    assert "row 1: 'a.png' is a symlink out of the images folder" in capsys.readouterr().err
    assert not (step_folder(tmp_path) / "images").exists() and leftovers(step_folder(tmp_path)) == []
