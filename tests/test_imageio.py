"""The stdlib PNG/PGM/PPM codec: round trips and cross-checks with Pillow."""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

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


# -- malformed files: a shardmem error naming the file and the problem -------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(ihdr: bytes, raw: bytes) -> bytes:
    return (
        _PNG_SIG
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


# (file name, content, plugin, message): every one is refused with ImageFormatError
MALFORMED = [
    ("big.pgm", b"P2\n2 1\n255\n0 300\n", "auto", r"sample '300' is above the file's maxval"),
    (
        "over.ppm",
        b"P3\n1 1\n10\n1 2 11\n",
        "auto",
        r"sample '11' is above the file's maxval, 0\.\.10",
    ),
    ("neg.pgm", b"P2\n2 1\n255\n0 -3\n", "auto", r"sample '-3' is not a number in 0\.\.255"),
    ("nan.pgm", b"P2\n2 1\n255\n0 x\n", "auto", r"sample 'x' is not a number"),
    ("huge.pgm", b"P2\n2 1\n255\n0 " + b"9" * 5000 + b"\n", "auto", r"above the file's maxval"),
    ("bin.pgm", b"P5\n2 1\n10\n\x00\xff", "auto", r"sample 255 is above the file's maxval 10"),
    ("zero.pgm", b"P5\n2 1\n0\n\x00\x00", "auto", r"maxval is 0, not >= 1"),
    ("long.pgm", b"P5\n" + b"9" * 5000 + b" 1\n255\n", "auto", r"corrupt PGM/PPM header"),
    ("short.pgm", b"P5\n4 4\n255\n\x00", "auto", r"1 samples, expected 16 .* truncated"),
    ("ihdr.png", _png(b"\0\0\0\1\0\0", b"\0\0"), "stdlib", r"IHDR chunk has 6 bytes, not 13"),
    ("ihdr2.png", _png(b"\0\0\0\1\0\0", b"\0\0"), "auto", r"not a readable image"),
    (
        "empty.png",
        _png(struct.pack(">IIBBBBB", 0, 3, 8, 0, 0, 0, 0), b""),
        "stdlib",
        r"declares 0 x 3 pixels",
    ),
    (
        "cut.png",
        _png(struct.pack(">IIBBBBB", 2000, 2000, 8, 0, 0, 0, 0), bytes(2001 * 50)),
        "stdlib",
        r"PNG data is 100050 bytes, expected 4002000 for 2000 x 2000 pixels",
    ),
    (
        "bomb.png",
        _png(struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0), bytes(20001 * 50)),
        "stdlib",
        r"400,000,000 pixels is over the limit of 178,956,970, .* decompression bomb",
    ),
    ("bomb.pgm", b"P5\n20000 20000\n255\n\0", "auto", r"over the limit .* decompression bomb"),
    ("wide.pgm", b"P5\n0 5\n255\n", "auto", r"declares 0 x 5 pixels"),
    ("tall.ppm", b"P3\n4 0\n255\n", "auto", r"declares 4 x 0 pixels"),
    ("magic.pgm", b"P512 1 255\n" + bytes(12), "auto", r"magic b'P5' must be followed by"),
    (
        "bomb2.png",
        _png(struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0), bytes(20001 * 50)),
        "pillow",
        r"refused by Pillow as a possible decompression bomb",
    ),
    ("text.txt", b"hello", "stdlib", r"is not a PNG, PGM or PPM file"),
]


@pytest.mark.parametrize(("name", "content", "plugin", "message"), MALFORMED)
def test_malformed_files_are_refused_naming_file_and_problem(
    tmp_path: Path, name: str, content: bytes, plugin: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(sm.ImageFormatError, match=message) as info:
        image.read_image(path, plugin=plugin)
    assert name in str(info.value)


def test_inflating_stops_at_the_declared_size(tmp_path: Path) -> None:
    """A 1 x 1 PNG followed by 64 MiB of zeros in its IDAT: only 2 bytes are inflated."""
    path = tmp_path / "tail.png"
    path.write_bytes(_png(struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0), bytes(2**26)))
    assert image.read_image(path, plugin="stdlib").tolist() == [[0]]


def test_paths_as_bytes_and_path_like_others_refused(tmp_path: Path) -> None:
    path = os.fsencode(tmp_path / "b.png")
    image.write_image(path, np.array([[1, 2]], np.uint8))
    assert image.read_image(path).tolist() == [[1, 2]]
    with pytest.raises(sm.ArgumentTypeError, match=r"read_image\(\): path=5 is a int"):
        image.read_image(5)  # type: ignore[arg-type]
    with pytest.raises(sm.ArgumentTypeError, match=r"write_image\(\): path=None"):
        image.write_image(None, np.zeros((1, 1), np.uint8))  # type: ignore[arg-type]
    with pytest.raises(sm.ImageFormatError, match="has no suffix"):
        image.write_image(tmp_path / "noext", np.zeros((1, 1), np.uint8))


def _valid_files() -> list[bytes]:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return [
        image._codec._encode_png(img.tobytes(), 3, 4, 3, 6),
        image._codec._encode_pnm(img.tobytes(), 3, 4, 3, "x"),
        b"P2\n4 3\n200\n" + b" ".join(b"%d" % v for v in img[..., 0].ravel() % 201),
    ]


@settings(deadline=None, max_examples=150)
@given(
    which=st.integers(0, 2),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 400),
    plugin=st.sampled_from(["stdlib", "auto"]),
)
def test_corrupted_files_give_an_image_or_a_format_error(
    tmp_path_factory: pytest.TempPathFactory,
    which: int,
    edits: list[tuple[int, int]],
    cut: int,
    plugin: str,
) -> None:
    """Bytes changed and the file cut anywhere: never a builtin error from inside the codec."""
    data = bytearray(_valid_files()[which])
    for at, value in edits:
        data[at % len(data)] = value
    path = tmp_path_factory.mktemp("fuzz") / "f.img"
    path.write_bytes(bytes(data[: max(cut, 1)] if cut < len(data) else data))
    refused: sm.ImageFormatError | None = None
    try:
        got = image.read_image(path, plugin=plugin)
    except sm.ImageFormatError as exc:
        refused = exc
    if refused is None:
        assert isinstance(got, sm.SharedArray)
    else:
        assert str(path) in str(refused)


@pytest.mark.parametrize("level", [12, -2, 1.5, True, "9"])
def test_compress_level_out_of_range_is_refused(tmp_path: Path, level: object) -> None:
    with pytest.raises(sm.InvalidArgumentError, match=r"compress_level=.* must be an int from 0"):
        image.write_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8), compress_level=level)  # type: ignore[arg-type]
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("level", [-1, 0, 9])
def test_compress_levels_zlib_takes(tmp_path: Path, level: int) -> None:
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image.write_image(tmp_path / "a.png", img, compress_level=level)
    assert image.read_image(tmp_path / "a.png", plugin="stdlib").tolist() == img.tolist()


def test_running_out_of_memory_while_decoding_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shardmem.image import _codec

    path = tmp_path / "a.png"
    image.write_image(path, np.zeros((2, 3), np.uint8))

    def no_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(_codec, "_unfilter", no_memory)
    with pytest.raises(sm.OutOfMemoryError, match=r"not enough memory to decode '.*a\.png' \("):
        image.read_image(path, plugin="stdlib")

    def named(*args: object) -> None:
        raise sm.OutOfMemoryError("Unable to allocate 6 B for a SharedBuffer")

    monkeypatch.setattr(_codec, "_unfilter", named)
    with pytest.raises(sm.OutOfMemoryError, match=r"^Unable to allocate 6 B"):
        image.read_image(path, plugin="stdlib")


# -- what write_image and read_image refuse, and agreements between the decoders ------------------


@pytest.mark.parametrize("suffix", [".png", ".pgm", ".tiff"])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (0, 4, 3), (2, 0, 1)])
def test_write_image_refuses_an_image_without_pixels(
    tmp_path: Path, suffix: str, shape: tuple[int, ...]
) -> None:
    """Formerly a PNG of width 0 was written that no reader accepts."""
    path = tmp_path / f"empty{suffix}"
    with pytest.raises(sm.ShapeError, match=r"no pixels; image files cannot hold"):
        image.write_image(path, np.zeros(shape, np.uint8))
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".png", ".pgm", ".tiff"])
@pytest.mark.parametrize("channels", [0, 5, 7])
def test_write_image_refuses_other_than_1_to_4_channels(
    tmp_path: Path, suffix: str, channels: int
) -> None:
    """Formerly KeyError: 5 (PNG, Pillow) or a PNM message."""
    with pytest.raises(sm.ShapeError, match=rf"{channels} channels; an image file holds 1-4"):
        image.write_image(tmp_path / f"c{suffix}", np.zeros((2, 2, channels), np.uint8))


@pytest.mark.parametrize("make", [str, os.fsencode, Path])
def test_a_nul_in_the_path_is_named(tmp_path: Path, make: Any) -> None:
    """Formerly ValueError: embedded null byte, from open()."""
    path = make(str(tmp_path / "a\0b.png"))
    with pytest.raises(sm.InvalidArgumentError, match=r"read_image\(\): path=.*a\\x00b\.png"):
        image.read_image(path)
    with pytest.raises(sm.InvalidArgumentError, match=r"write_image\(\): path=.* NUL"):
        image.write_image(path, np.zeros((2, 2), np.uint8))


def test_the_pixel_limit_is_pillows_in_every_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both decoders refuse over 2 * PIL.Image.MAX_IMAGE_PIXELS, and both follow a new value."""
    path = tmp_path / "six.png"
    image.write_image(path, np.zeros((2, 3), np.uint8))
    pgm = tmp_path / "six.pgm"
    image.write_image(pgm, np.zeros((2, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2)  # limit 4 pixels, the images have 6
    for plugin, file in (("stdlib", path), ("pillow", path), ("auto", pgm)):
        with pytest.raises(sm.ImageFormatError, match="decompression bomb"):
            image.read_image(file, plugin=plugin)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6)  # limit 12 (Pillow warns over 6): read
    for plugin, file in (("stdlib", path), ("pillow", path), ("auto", pgm)):
        assert image.read_image(file, plugin=plugin).shape == (2, 3)


@settings(deadline=None, max_examples=20)
@given(
    index=arrays(np.uint8, (3, 4), elements=st.integers(0, 5)),
    alpha=st.binary(min_size=1, max_size=8),
)
def test_a_palette_png_with_transparency_reads_alike_in_both_decoders(
    index: np.ndarray, alpha: bytes
) -> None:
    """tRNS gives RGBA in both (entries past its end opaque); formerly RGB from the stdlib."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.png"
        im = Image.fromarray(index, mode="P")
        im.putpalette(bytes(range(256)) * 3)  # 256 entries: an 8-bit palette PNG
        im.save(path, transparency=alpha)
        ours = np.asarray(image.read_image(path, plugin="stdlib"))
        pillow = np.asarray(image.read_image(path, plugin="pillow"))
    assert ours.shape == (3, 4, 4)
    np.testing.assert_array_equal(ours, pillow)
