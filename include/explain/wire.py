"""An explanation as HTTP bytes: compact JSON, gzipped cheaply when the client accepts it.

A Grad-CAM answer is ~200 KB, nearly all of it the base64 text of a PNG. Its only redundancy
is base64's 6-bit alphabet, which Huffman coding alone removes: gzip with `Z_HUFFMAN_ONLY`
gives the same ~25 % as the API server's own GZip middleware (level 5) in a fifth of the time
(1.2 ms instead of 5.3 ms for a 224x224 overlay, measured). The answer is encoded where it
was computed (the worker pool), and the middleware passes an already-encoded body through.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

# Below this, compression costs more than it saves (the same floor as Airflow's middleware).
GZIP_MIN_BYTES = 1024


def json_bytes(document: dict[str, Any]) -> bytes:
    """What Starlette's JSONResponse sends: compact, UTF-8, NaN and infinity refused."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (an explicit or wildcard q > 0)."""
    if not accept_encoding:
        return False
    quality: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        value = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    value = float(number)
                except ValueError:
                    value = 0.0
        quality[coding.strip().lower()] = value
    if "gzip" in quality:
        return quality["gzip"] > 0
    return quality.get("*", 0.0) > 0


def encode_answer(document: dict[str, Any], accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
    """(body, extra headers) of an explanation for a client with this Accept-Encoding."""
    body = json_bytes(document)
    if len(body) < GZIP_MIN_BYTES or not accepts_gzip(accept_encoding):
        return body, {}
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 8, zlib.Z_HUFFMAN_ONLY)
    return compressor.compress(body) + compressor.flush(), {
        "Content-Encoding": "gzip",
        "Vary": "Accept-Encoding",
    }
