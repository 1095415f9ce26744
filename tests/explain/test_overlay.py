"""The Grad-CAM overlay: the colour table equals the per-pixel jet blend, and the PNG writer
produces files any reader decodes to exactly those pixels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from airgenome.explain.image import OVERLAY_ALPHA, encode_png, jet, overlay, overlay_png, upscale


def _picture(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(11)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def test_overlay_equals_the_per_pixel_jet_blend() -> None:
    picture = _picture(40, 24)  # not square: width and height must not be swapped
    cam = np.random.default_rng(5).uniform(0, 1, size=(6, 10)).astype("float32")
    heat = upscale(cam, picture.size)
    expected = np.uint8(
        np.clip((1 - OVERLAY_ALPHA) * np.asarray(picture, dtype="float32") + OVERLAY_ALPHA * jet(heat), 0, 255)
    )
    mixed = overlay(picture, cam)
    assert mixed.shape == (24, 40, 3) and mixed.dtype == np.uint8
    assert np.array_equal(mixed, expected)


def test_png_writer_round_trips_through_pillow() -> None:
    pixels = np.asarray(_picture(33, 17))
    decoded = Image.open(io.BytesIO(encode_png(pixels)))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", (33, 17))
    assert np.array_equal(np.asarray(decoded), pixels)


def test_overlay_png_is_a_data_url_of_the_overlay() -> None:
    picture = _picture(16, 16)
    cam = np.linspace(0, 1, 16, dtype="float32").reshape(4, 4)
    url = overlay_png(picture, cam)
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(decoded, overlay(picture, cam))


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4), dtype=np.uint8), "height, width, 3"),
        (np.zeros((4, 4, 3), dtype=np.float32), "uint8"),
    ],
)
def test_png_writer_refuses_other_layouts(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_png(pixels)
