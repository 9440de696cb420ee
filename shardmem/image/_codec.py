"""Reading and writing images: a stdlib PNG / PGM / PPM codec, Pillow when it helps.

The stdlib path (``zlib`` + ``struct``) reads 8-bit, non-interlaced PNGs
(gray, gray+alpha, RGB, RGBA, palette) and binary or ASCII PGM/PPM with
``maxval <= 255``, and writes PNG (gray, gray+alpha, RGB, RGBA) and PGM/PPM.
Anything else (16-bit or interlaced PNGs, JPEG, TIFF ...) needs Pillow, an
optional dependency used in the main interpreter only. With
``plugin='auto'`` PNGs are decoded by Pillow when it is installed (it is
faster) and by the stdlib codec otherwise.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from itertools import accumulate
from operator import add, sub
from pathlib import Path
from typing import Any

from shardmem._data.array import SharedArray, from_raw
from shardmem._data.dtypes import as_dtype, uint8
from shardmem._errors import (
    ArgumentTypeError,
    ImageFormatError,
    InvalidArgumentError,
    OutOfMemoryError,
    ShapeError,
)
from shardmem.image._point import to_uint8
from shardmem.image._runner import _hwc, _image

__all__ = ("read_image", "write_image")

_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PLUGINS = ("auto", "stdlib", "pillow")
_MASK = (255).__and__
_MAX_PIXELS = 2 * 89_478_485  # Pillow's default: it refuses over 2 * Image.MAX_IMAGE_PIXELS
_MAX_DIGITS = 18  # longest number read from a PGM/PPM (int() refuses over 4,300 digits)
type PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def read_image(path: PathLike, /, *, plugin: str = "auto") -> SharedArray:
    """Read a PNG, PGM or PPM file (others with Pillow) into an ``H x W`` or ``H x W x C`` array.

    Parameters
    ----------
    path : str, bytes or path-like
        The file.
    plugin : {'auto', 'stdlib', 'pillow'}
        The decoder; ``'auto'`` uses Pillow for PNGs when installed.

    Raises
    ------
    ArgumentTypeError
        If ``path`` is not a str, bytes or path-like object.
    InvalidArgumentError
        If the file cannot be opened.
    ImageFormatError
        If the content is not an image this decoder reads (a corrupt or
        truncated file, samples outside the declared range, a file Pillow
        refuses as a decompression bomb); the message names the file.

    Examples
    --------
    >>> import tempfile, pathlib, shardmem as sm
    >>> from shardmem import image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.pgm"
    >>> image.write_image(p, sm.asarray([[0, 255]], dtype="uint8"))
    >>> image.read_image(p).tolist()
    [[0, 255]]
    """
    file = _path(path, "read_image")
    _check_plugin(plugin)
    data = _read_bytes(file)
    try:
        return _decode(file, data, plugin)
    except OutOfMemoryError:
        raise  # (it names the bytes already)
    except MemoryError as exc:
        raise OutOfMemoryError(
            f"read_image(): not enough memory to decode {str(file)!r} ({len(data)} bytes on "
            "disk); free memory or read a smaller image"
        ) from exc


def _decode(file: Path, data: bytes, plugin: str) -> SharedArray:
    if data.startswith(_PNG):
        if plugin == "pillow" or (plugin == "auto" and _pillow() is not None):
            return _read_pillow(file)
        return _decode_png(data, str(file))
    if data[:2] in (b"P2", b"P3", b"P5", b"P6") and plugin != "pillow":
        return _decode_pnm(data, str(file))
    if plugin == "stdlib":
        raise ImageFormatError(
            f"{str(file)!r} is not a PNG, PGM or PPM file (it starts with {data[:8]!r}); "
            "the stdlib codec reads only those: pass plugin='auto' to use Pillow"
        )
    return _read_pillow(file)


def write_image(path: PathLike, image: object, /, *, compress_level: int = 6) -> None:
    """Write a uint8 image (float images in [0, 1] are converted) as PNG, PGM or PPM.

    The format follows the suffix: ``.png``, ``.pgm``, ``.ppm``/``.pnm``;
    other suffixes go through Pillow.

    Examples
    --------
    >>> import tempfile, pathlib, shardmem as sm
    >>> from shardmem import image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> image.write_image(p, sm.asarray([[[1, 2, 3]]], dtype="uint8"))
    >>> image.read_image(p, plugin="stdlib").tolist()
    [[[1, 2, 3]]]
    """
    file = _path(path, "write_image")
    if isinstance(compress_level, bool) or compress_level not in range(-1, 10):
        raise InvalidArgumentError(
            f"write_image(): compress_level={compress_level!r} must be an int from 0 (none) "
            "to 9 (smallest), or -1 (zlib's default)"
        )
    a = _image(image, "write_image")
    h, w, c = _hwc(a)
    if not 1 <= c <= 4:
        raise ShapeError(
            f"write_image(): image has shape {a.shape}, {c} channels; an image file holds "
            "1-4 channels (gray, gray+alpha, RGB, RGBA): pass H x W or H x W x 1..4"
        )
    if not h or not w:
        raise ShapeError(
            f"write_image(): image has shape {a.shape}, no pixels; image files cannot "
            "hold an image of zero height or width: pass at least 1 x 1 pixels"
        )
    if a.dtype != uint8:
        a = to_uint8(a)
    suffix = file.suffix.lower()
    if not suffix:
        raise ImageFormatError(
            f"write_image(): {str(file)!r} has no suffix to choose the format by; "
            "end the name in .png, .pgm or .ppm (others need Pillow)"
        )
    if suffix == ".png":
        data = _encode_png(a._tobytes(), h, w, c, compress_level)
    elif suffix in (".pgm", ".ppm", ".pnm"):
        data = _encode_pnm(a._tobytes(), h, w, c, str(file))
    else:
        _write_pillow(file, a)
        return
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise InvalidArgumentError(
            f"write_image(): cannot write {str(file)!r}: {exc.strerror}; "
            "check that the folder exists and is writable"
        ) from exc


def _path(path: object, where: str) -> Path:
    """``path`` (str, bytes or path-like, as ``open`` takes) as a Path."""
    if isinstance(path, str | bytes | os.PathLike):
        name = os.fsdecode(path)
        if "\0" in name:
            raise InvalidArgumentError(
                f"{where}(): path={name!r} holds a NUL character, which no file name can; "
                "pass the file name without it"
            )
        return Path(name)
    raise ArgumentTypeError(
        f"{where}(): path={path!r} is a {type(path).__name__}; pass the file name as a "
        "str, bytes or pathlib.Path"
    )


def _check_plugin(plugin: str) -> None:
    if plugin not in _PLUGINS:
        raise InvalidArgumentError(f"read_image(): plugin={plugin!r}; use one of {_PLUGINS}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(
            f"read_image(): cannot read {str(path)!r}: {exc.strerror}; check the path"
        ) from exc


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


# -- PNG ----------------------------------------------------------------------------------------


def _chunks(data: bytes, name: str) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    pos = len(_PNG)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            break
        found.setdefault(kind, []).append(body)
        pos += 12 + length
        if kind == b"IEND":
            break
    if b"IHDR" not in found or b"IDAT" not in found:
        raise ImageFormatError(f"{name}: truncated or corrupt PNG (no IHDR/IDAT chunk)")
    return found


def _decode_png(data: bytes, name: str) -> SharedArray:
    chunks = _chunks(data, name)
    header = chunks[b"IHDR"][0]
    if len(header) != 13:
        raise ImageFormatError(
            f"{name}: corrupt PNG: its IHDR chunk has {len(header)} bytes, not 13"
        )
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if not w or not h:
        raise ImageFormatError(f"{name}: corrupt PNG: it declares {w} x {h} pixels")
    _check_pixels(w, h, name)
    if depth != 8 or interlace or ctype not in _PNG_CHANNELS:
        raise ImageFormatError(
            f"{name}: PNG with bit depth {depth}, colour type {ctype}, interlace {interlace} "
            "needs Pillow (pip install pillow); the stdlib codec reads 8-bit non-interlaced PNGs"
        )
    c = _PNG_CHANNELS[ctype]
    expected = h * (w * c + 1)
    try:  # no more than the header declares: a small file cannot inflate without bound
        raw = zlib.decompressobj().decompress(b"".join(chunks[b"IDAT"]), min(expected, sys.maxsize))
    except zlib.error as exc:
        raise ImageFormatError(f"{name}: corrupt PNG data ({exc})") from exc
    if len(raw) < expected:
        raise ImageFormatError(
            f"{name}: PNG data is {len(raw)} bytes, expected {expected} for {w} x {h} pixels "
            f"of {c} channel(s); the file is truncated or corrupt"
        )
    pixels = _unfilter(raw, h, w * c, c, name)
    if ctype == 3:
        alpha = chunks.get(b"tRNS", [b""])[0]
        pixels = _depalette(pixels, chunks.get(b"PLTE", [b""])[0], alpha, name)
        c = 4 if alpha else 3
    return from_raw(pixels, (h, w, c) if c > 1 else (h, w), uint8)


def _pixel_limit() -> int | None:
    """Pillow's limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, None: off), its default without it."""
    pil = _pillow()
    if pil is None:
        return _MAX_PIXELS
    most = pil.MAX_IMAGE_PIXELS
    return None if most is None else 2 * int(most)


def _check_pixels(w: int, h: int, name: str) -> None:
    """Refuse, as Pillow does, an image declaring more pixels than its decompression-bomb limit."""
    limit = _pixel_limit()
    if limit is not None and w * h > limit:
        raise ImageFormatError(
            f"{name}: {w} x {h} = {w * h:,} pixels is over the limit of {limit:,}, so it is "
            "refused as a possible decompression bomb (as Pillow refuses it); if you trust "
            "the file, raise PIL.Image.MAX_IMAGE_PIXELS (half the limit)"
        )


def _unfilter(raw: bytes, h: int, stride: int, bpp: int, name: str) -> bytearray:
    out = bytearray(h * stride)
    prev = bytes(stride)
    for y in range(h):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1 : start + 1 + stride]
        row = _unfilter_row(kind, line, prev, bpp, name)
        out[y * stride : (y + 1) * stride] = row
        prev = row
    return out


def _unfilter_row(kind: int, line: bytes, prev: bytes, bpp: int, name: str) -> bytes:
    if kind == 0:
        return line
    if kind == 2:
        return bytes(map(_MASK, map(add, line, prev, strict=False)))
    if kind == 1:
        cur = bytearray(len(line))
        for k in range(bpp):
            cur[k::bpp] = bytes(map(_MASK, accumulate(line[k::bpp])))
        return bytes(cur)
    if kind in (3, 4):
        return _unfilter_slow(kind, line, prev, bpp)
    raise ImageFormatError(f"{name}: PNG row filter {kind} is not 0..4; the file is corrupt")


def _unfilter_slow(kind: int, line: bytes, prev: bytes, bpp: int) -> bytes:
    cur = bytearray(line)
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            cur[i] = (cur[i] + (a + b) // 2) & 255
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return bytes(cur)


def _depalette(index: bytearray, palette: bytes, alpha: bytes, name: str) -> bytearray:
    """RGB of each palette index; RGBA when the file has a tRNS chunk (as Pillow reads it:
    entries past the end of tRNS are opaque)."""
    if not palette or len(palette) % 3:
        raise ImageFormatError(f"{name}: palette PNG without a valid PLTE chunk")
    pal = palette.ljust(768, b"\0")
    planes = [pal[k::3] for k in range(3)]
    if alpha:
        planes.append(alpha[:256].ljust(256, b"\xff"))
    out = bytearray(len(planes) * len(index))
    for k, plane in enumerate(planes):
        out[k :: len(planes)] = index.translate(plane)
    return out


def _encode_png(pixels: bytes, h: int, w: int, c: int, level: int) -> bytes:
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    stride = w * c
    rows = []
    for y in range(h):
        row = pixels[y * stride : (y + 1) * stride]
        shifted = bytes(c) + row[:-c]
        rows.append(b"\x01" + bytes(map(_MASK, map(sub, row, shifted, strict=False))))  # Sub filter
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    body = zlib.compress(b"".join(rows), level)
    return _PNG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# -- PGM / PPM ------------------------------------------------------------------------------------


def _pnm_header(data: bytes, name: str) -> tuple[list[int], int]:
    fields: list[int] = []
    pos = 2
    while len(fields) < 3:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        end = pos
        while end < len(data) and data[end : end + 1].isdigit():
            end += 1
        if end == pos or end - pos > _MAX_DIGITS:
            raise ImageFormatError(
                f"{name}: corrupt PGM/PPM header (expected width, height, maxval)"
            )
        fields.append(int(data[pos:end]))
        pos = end
    return fields, pos + 1


def _decode_pnm(data: bytes, name: str) -> SharedArray:
    if not data[2:3].isspace():
        raise ImageFormatError(
            f"{name}: corrupt PGM/PPM header: the magic {data[:2]!r} must be followed by "
            f"whitespace, not {data[2:3]!r}"
        )
    (w, h, maxval), pos = _pnm_header(data, name)
    c = 3 if data[:2] in (b"P3", b"P6") else 1
    if not w or not h:
        raise ImageFormatError(f"{name}: corrupt PGM/PPM header: it declares {w} x {h} pixels")
    _check_pixels(w, h, name)
    if maxval < 1:
        raise ImageFormatError(f"{name}: corrupt PGM/PPM header: maxval is {maxval}, not >= 1")
    if maxval > 255:
        raise ImageFormatError(
            f"{name}: PGM/PPM maxval {maxval} needs Pillow; the stdlib codec reads maxval <= 255"
        )
    n = h * w * c
    if data[:2] in (b"P2", b"P3"):
        pixels = _ascii_samples(data[pos:].split()[:n], maxval, name)
    else:
        pixels = data[pos : pos + n]
    if len(pixels) != n:
        raise ImageFormatError(
            f"{name}: PGM/PPM data has {len(pixels)} samples, expected {n} for {w} x {h} "
            f"pixels of {c} channel(s); the file is truncated"
        )
    if maxval != 255 and pixels and max(pixels) > maxval:
        raise ImageFormatError(
            f"{name}: PGM/PPM sample {max(pixels)} is above the file's maxval {maxval}; "
            "the file is corrupt"
        )
    if maxval != 255:
        pixels = pixels.translate(bytes(min(255, round(v * 255 / maxval)) for v in range(256)))
    return from_raw(pixels, (h, w, c) if c > 1 else (h, w), uint8)


def _ascii_samples(tokens: list[bytes], maxval: int, name: str) -> bytes:
    """The samples of an ASCII PGM/PPM: decimal numbers in 0..maxval."""
    if all(map(bytes.isdigit, tokens)) and max(map(len, tokens), default=0) <= _MAX_DIGITS:
        values = list(map(int, tokens))
        if not values or max(values) <= maxval:
            return bytes(values)
    bad = next(t for t in tokens if not t.isdigit() or len(t) > _MAX_DIGITS or int(t) > maxval)
    rule = "above the file's maxval," if bad.isdigit() else "not a number in"
    raise ImageFormatError(
        f"{name}: PGM/PPM sample {bad.decode(errors='replace')!r} is {rule} 0..{maxval}; "
        "the file is corrupt"
    )


def _encode_pnm(pixels: bytes, h: int, w: int, c: int, name: str) -> bytes:
    if c not in (1, 3):
        raise ImageFormatError(
            f"write_image(): {name} needs a gray or RGB image, not {c} channels; "
            "write a .png instead"
        )
    return f"P{5 if c == 1 else 6}\n{w} {h}\n255\n".encode() + pixels


# -- Pillow --------------------------------------------------------------------------------


def _read_pillow(path: PathLike) -> SharedArray:
    pil = _pillow()
    if pil is None:
        raise ImageFormatError(
            f"{str(path)!r} needs Pillow to be read (16-bit, interlaced or not "
            "PNG/PGM/PPM); install it with pip install pillow"
        )
    try:
        with pil.open(path) as im:
            im.load()
            return _from_pillow(im)
    except pil.DecompressionBombError as exc:
        raise ImageFormatError(
            f"{str(path)!r} is refused by Pillow as a possible decompression bomb ({exc}); "
            "if you trust the file, raise PIL.Image.MAX_IMAGE_PIXELS"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # a third-party decoder: anything it raises means unreadable
        raise ImageFormatError(
            f"{str(path)!r} is not a readable image: {type(exc).__name__}: {exc}"
        ) from exc


def _from_pillow(im: Any) -> SharedArray:
    modes = {
        "L": ("uint8", 1),
        "LA": ("uint8", 2),
        "RGB": ("uint8", 3),
        "RGBA": ("uint8", 4),
        "I;16": ("uint16", 1),
        "I": ("int32", 1),
        "F": ("float32", 1),
    }
    if im.mode not in modes:
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    dtype, c = modes[im.mode]
    h, w = im.height, im.width
    return from_raw(im.tobytes(), (h, w, c) if c > 1 else (h, w), as_dtype(dtype))


def _write_pillow(path: PathLike, a: SharedArray) -> None:
    pil = _pillow()
    if pil is None:
        raise ImageFormatError(
            f"write_image(): {str(path)!r} needs Pillow for its suffix; use "
            ".png, .pgm or .ppm, or pip install pillow"
        )
    c = a.shape[2] if a.ndim == 3 else 1
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    try:
        pil.frombytes(mode, (a.shape[1], a.shape[0]), a._tobytes()).save(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageFormatError(f"write_image(): Pillow cannot write {str(path)!r}: {exc}") from exc
