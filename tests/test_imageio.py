"""The stdlib PNG/PGM/PPM codec: round trips and cross-checks with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

import shardmem as sm
from shardmem import image

shapes = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
    st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([2, 3, 4])),
)


@settings(deadline=None, max_examples=30)
@given(arrays(np.uint8, shapes))
def test_png_round_trip_and_pillow(
    tmp_path_factory: pytest.TempPathFactory, img: np.ndarray
) -> None:
    path = tmp_path_factory.mktemp("png") / "x.png"
    image.write_image(path, img)
    assert np.array_equal(np.asarray(image.read_image(path, plugin="stdlib")), img)
    assert np.array_equal(np.asarray(Image.open(path)), img)
    assert np.array_equal(np.asarray(image.read_image(path, plugin="pillow")), img)


@pytest.mark.parametrize("suffix", [".pgm", ".ppm"])
def test_pnm_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (7, 5, 3) if suffix == ".ppm" else (7, 5), dtype=np.uint8)
    image.write_image(tmp_path / f"a{suffix}", img)
    assert np.array_equal(np.asarray(image.read_image(tmp_path / f"a{suffix}")), img)
    assert np.array_equal(np.asarray(Image.open(tmp_path / f"a{suffix}")), img)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P"])
def test_decode_pillow_written_png(tmp_path: Path, mode: str) -> None:
    """Pillow chooses its own filters (Paeth, Average, ...): the stdlib decoder must agree."""
    rng = np.random.default_rng(1)
    base = Image.fromarray(
        rng.integers(0, 256, (33, 41, 3), dtype=np.uint8).cumsum(1).astype(np.uint8)
    )
    im = base.convert(mode)
    im.save(tmp_path / "p.png", optimize=False)
    want = np.asarray(im.convert("RGB") if mode == "P" else im)
    assert np.array_equal(np.asarray(image.read_image(tmp_path / "p.png", plugin="stdlib")), want)


def test_ascii_pnm(tmp_path: Path) -> None:
    (tmp_path / "a.pgm").write_bytes(b"P2\n# comment\n3 1\n15\n0 15 5\n")
    assert image.read_image(tmp_path / "a.pgm").tolist() == [[0, 255, 85]]


def test_sixteen_bit_png_via_pillow(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 1000]], np.uint16)).save(tmp_path / "s.png")
    with pytest.raises(sm.ImageFormatError, match="needs Pillow"):
        image.read_image(tmp_path / "s.png", plugin="stdlib")
    got = image.read_image(tmp_path / "s.png")
    assert got.dtype == sm.uint16
    assert got.tolist() == [[0, 1000]]


def test_float_written_as_uint8(tmp_path: Path) -> None:
    image.write_image(tmp_path / "f.png", np.array([[0.0, 0.5, 1.0]], np.float32))
    assert image.read_image(tmp_path / "f.png").tolist() == [[0, 128, 255]]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(sm.InvalidArgumentError, match=r"cannot read .*check the path"):
        image.read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nrubbish")
    with pytest.raises(sm.ImageFormatError, match="corrupt"):
        image.read_image(tmp_path / "junk.png", plugin="stdlib")
    (tmp_path / "junk.txt").write_bytes(b"hello")
    with pytest.raises(sm.ImageFormatError, match="not a readable image"):
        image.read_image(tmp_path / "junk.txt")
    with pytest.raises(sm.ImageFormatError, match="gray or RGB"):
        image.write_image(tmp_path / "a.ppm", np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(sm.InvalidArgumentError, match="cannot write"):
        image.write_image(tmp_path / "no" / "dir.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(sm.InvalidArgumentError, match="plugin="):
        image.read_image(tmp_path / "junk.png", plugin="cv2")


def test_sample_photo() -> None:
    from skimage import data

    got = image.read_image(image.data.ASTRONAUT, plugin="stdlib")
    assert np.array_equal(np.asarray(got), data.astronaut())
    assert np.array_equal(np.asarray(image.data.astronaut()), data.astronaut())
