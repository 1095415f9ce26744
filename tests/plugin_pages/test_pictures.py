"""Evaluation pictures: served by evaluation, task position and index from the stored record,
only from under the lake root, with the stored image type and nosniff; shown on the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
from airgenome.evaluations.store import get_evaluation_store

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24 + b"picture-bytes"
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def pictured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("pictures")
    lake = base / "lake"
    folder = lake / "runs" / "p" / "r" / "evaluate" / "evaluation"
    folder.mkdir(parents=True)
    (folder / "matrix.png").write_bytes(PNG)
    (folder / "chart.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    outside = base / "secret.png"
    outside.write_bytes(b"TOP-SECRET-CONTENT")
    os.symlink(outside, folder / "link.png")
    uri = f"sqlite:///{base / 'evaluations.db'}"

    @evaluation(name="pictures/confusion", targetModel="pictures/1")
    class Pictured(GenomeEvaluationRun):
        @task
        def matrix(self, t, dataset):
            t.add_metric("accuracy", 0.9)
            t.add_picture("matrix", f"file://{folder}/matrix.png", caption=f"confusion {XSS}")
            t.add_picture("outside", f"file://{outside}")
            t.add_picture("traversal", f"file://{folder}/../../../../../secret.png")
            t.add_picture("escaped", f"file://{folder}/%2e%2e/x.png")
            t.add_picture("symlink", f"file://{folder}/link.png")
            t.add_picture("missing", f"file://{folder}/gone.png")
            t.add_picture("svg", f"file://{folder}/chart.svg", media_type="image/svg+xml")
            t.add_picture("elsewhere", "s3://other-bucket/x.png")
            t.prototype(ref="row-1").add_picture("pair", f"file://{folder}/matrix.png", caption="adversarial pair")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGENOME_EVALUATION_STORE_URI", uri)
        patch.setenv("AIRGENOME_LAKE_ROOT", f"file://{lake}")
        run = Pictured(get_evaluation_store(uri)).to_run()
        yield {"run": run}


def _url(run_id: str, position: int, index: int) -> str:
    return f"/api/v1/evaluations/{run_id}/tasks/{position}/pictures/{index}"


def test_the_api_gives_each_picture_its_url_and_serves_it(plugin_client, pictured) -> None:
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    run_id = pictured["run"].id
    body = client.get(f"/api/v1/evaluations/{run_id}", headers=headers).json()
    matrix = body["tasks"][0]["pictures"][0]
    assert matrix["url"] == f"/airgenome{_url(run_id, 0, 0)}" and matrix["mediaType"] == "image/png"
    assert body["tasks"][0]["prototypes"][0]["pictures"][0]["url"] == f"/airgenome{_url(run_id, 1, 0)}"

    served = client.get(_url(run_id, 0, 0), headers=headers)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert client.get(_url(run_id, 1, 0), headers=headers).content == PNG  # a prototype's picture


@pytest.mark.parametrize(
    ("index", "status", "says"),
    [
        (1, 403, "is outside the lake"),
        (2, 403, "'.', '..' and escaped characters are not allowed"),
        (3, 403, "'.', '..' and escaped characters are not allowed"),
        (4, 403, "leads outside the lake"),
        (5, 404, "is not in the lake"),
        (7, 403, "is outside the lake"),
        (9, 404, "has 8 picture(s); no index 9"),
    ],
)
def test_pictures_outside_the_lake_or_missing_are_refused(plugin_client, pictured, index: int, status: int, says: str) -> None:
    response = plugin_client.client.get(_url(pictured["run"].id, 0, index), headers=plugin_client.headers())
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert b"TOP-SECRET-CONTENT" not in response.content


def test_bad_positions_and_ids_are_json_errors(plugin_client, pictured) -> None:
    client, headers = plugin_client.client, plugin_client.headers()
    run_id = pictured["run"].id
    bad = client.get(f"/api/v1/evaluations/{run_id}/tasks/x/pictures/0", headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"] == [{"field": "position", "message": "must be a whole number >= 0"}]
    assert client.get(_url(run_id, 7, 0), headers=headers).status_code == 404
    assert client.get(_url("no-such-run", 0, 0), headers=headers).status_code == 404
    assert client.get(_url(run_id, 0, 0)).status_code == 401


def test_svg_is_served_sandboxed(plugin_client, pictured) -> None:
    response = plugin_client.client.get(_url(pictured["run"].id, 0, 6), headers=plugin_client.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_the_evaluation_page_shows_pictures_inline(plugin_client, pictured) -> None:
    run_id = pictured["run"].id
    page = plugin_client.client.get(f"/evaluations/{run_id}", headers=plugin_client.headers("viewer")).text
    assert f"<img src='/airgenome{_url(run_id, 0, 0)}'" in page
    assert f"<img src='/airgenome{_url(run_id, 1, 0)}'" in page
    assert "confusion &lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert "9 pictures)" in page
