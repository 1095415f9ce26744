"""Explanations on the wire: compact JSON, and gzip only for clients that accept it."""

from __future__ import annotations

import gzip
import json

import pytest

from airgenome.explain.wire import GZIP_MIN_BYTES, accepts_gzip, encode_answer, json_bytes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("deflate, GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),  # an explicit gzip rule wins over the wildcard
        ("br;q=1, gzip;q=bad", False),
    ],
)
def test_accept_encoding(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_large_answers_are_gzipped_for_clients_that_accept_it() -> None:
    document = {"class": "cat", "score": 0.5, "number_labels": 1, "image": "data:image/png;base64," + "QUJD" * 2000}
    body, headers = encode_answer(document, "gzip, deflate")
    assert headers == {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    assert gzip.decompress(body) == json_bytes(document)
    assert json.loads(gzip.decompress(body)) == document
    plain, plain_headers = encode_answer(document, "identity")
    assert (plain, plain_headers) == (json_bytes(document), {})


def test_small_answers_are_sent_as_they_are() -> None:
    document = {"expected": [1.5], "number_labels": 1, "shapley": [[0.25, -0.5]]}
    body, headers = encode_answer(document, "gzip")
    assert len(body) < GZIP_MIN_BYTES
    assert (body, headers) == (b'{"expected":[1.5],"number_labels":1,"shapley":[[0.25,-0.5]]}', {})


def test_nan_is_refused_like_jsonresponse() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        json_bytes({"score": float("nan")})
