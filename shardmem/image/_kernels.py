"""Stdlib-only kernels of `shardmem.image`, run inside worker interpreters.

Every kernel gets the whole source image and the whole output as flat
memoryviews (``src``, ``out``) plus its band of output rows ``r0:r1``. A row
is handled as one list of ``w * c`` values (channels interleaved), so a
horizontal shift by one pixel is a slice shifted by ``c`` elements and every
operation works on gray and colour images alike. The arithmetic runs in C
through ``map`` over ``operator`` functions, ``min``/``max``, ``accumulate``,
``itemgetter`` gathers and ``bytes.translate``; there is no per-pixel Python
loop except in the general (size > 3) median.

Nothing here may import shardmem or NumPy.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import accumulate, islice, repeat
from operator import add, itemgetter, mul, sub
from struct import pack_into
from typing import Any

from shardmem._borders import source_index

__all__ = (
    "box",
    "correlate",
    "gray",
    "histogram",
    "lut",
    "median",
    "point_float",
    "rank",
    "resize",
    "separable",
    "sobel",
    "table_float",
)

type Row = list[Any]

# Sums over many rows or taps chain lazy ``map`` iterators; a chain is materialised every
# DEPTH links, since consuming a chain tens of thousands deep overflows the C stack.
DEPTH = 256


# -- borders ---------------------------------------------------------------------------


def hpad(v: Row, w: int, c: int, left: int, right: int, mode: str, fill: Any) -> Row:  # noqa: PLR0917 - hot helper, positional calls
    """Row ``v`` (``w`` pixels of ``c`` channels) padded by whole pixels on both sides."""
    parts: Row = []
    for j in range(-left, 0):
        k = source_index(j, w, mode)
        parts += [fill] * c if k < 0 else v[k * c : k * c + c]
    parts += v
    for j in range(w, w + right):
        k = source_index(j, w, mode)
        parts += [fill] * c if k < 0 else v[k * c : k * c + c]
    return parts


def windows(  # noqa: PLR0917 - hot helper, positional calls
    src: memoryview,
    h: int,
    wc: int,
    r0: int,
    r1: int,
    above: int,
    below: int,
    mode: str,
    cval: float,
) -> Iterator[list[Row]]:
    """For each row ``y`` of ``r0:r1`` yield rows ``y-above .. y+below`` as lists."""
    cache: dict[int, Row] = {}
    for y in range(r0, r1):
        keys = [source_index(y + d, h, mode) for d in range(-above, below + 1)]
        rows = [cache.get(k) or _fetch(src, k, wc, cval) for k in keys]
        cache = dict(zip(keys, rows, strict=True))
        yield rows


def _fetch(src: memoryview, k: int, wc: int, cval: float) -> Row:
    return [cval] * wc if k < 0 else src[k * wc : k * wc + wc].tolist()


def put(out: memoryview, y: int, wc: int, values: Any) -> None:
    """Write one output row (floats are stored as the view's float format).

    ``struct.pack_into`` packs a row about twice as fast as building an ``array``; a
    float beyond float32's range (which ``struct`` refuses) goes through ``array``,
    which stores it as infinity, as NumPy's cast does.
    """
    row = values if isinstance(values, list) else list(values)
    try:
        pack_into(f"{wc}{out.format}", out, y * wc * out.itemsize, *row)
    except OverflowError:
        out[y * wc : y * wc + wc] = array(out.format, row)


# -- point operations ----------------------------------------------------------------------


def lut(src: memoryview, out: memoryview, *, a: int, b: int, table: bytes) -> None:
    """uint8 -> uint8 lookup table over the flat range ``a:b`` (``bytes.translate``)."""
    out[a:b] = src[a:b].tobytes().translate(table)


def point_float(
    src: memoryview, out: memoryview, *, a: int, b: int, op: str, p: float, q: float
) -> None:
    """Point operations of float images over ``a:b``: invert, gamma, stretch, threshold."""
    vals = src[a:b].tolist()
    if op == "threshold":
        out[a:b] = bytes(map(p.__lt__, vals)).translate(bytes([0, 255]) + bytes(254))
        return
    if op == "ubyte":  # float [0, 1] -> uint8, rounded and clipped; NaN -> 0 (max(0.0, nan) is 0.0)
        res8 = map(round, map((255.0).__mul__, map(min, map(max, repeat(0.0), vals), repeat(1.0))))
        out[a:b] = bytes(res8)
        return
    if op == "invert":
        res: Any = map((1.0).__sub__, vals)
    elif op == "gamma":
        res = map(q.__mul__, map(pow, map(max, vals, repeat(0.0)), repeat(p)))
    elif p == q:  # nothing to stretch: every value is p, clipped to [0, 1]; NaN stays NaN
        v = min(max(p, 0.0), 1.0)
        res = map(min, map(max, vals, repeat(v)), repeat(v))
    else:  # stretch to [0, 1] from [p, q]
        span = q - p  # divided by, as scikit-image does (1 / span can overflow)
        clipped = map(min, map(max, vals, repeat(p)), repeat(q))
        res = map(span.__rtruediv__, map((-p).__add__, clipped))
    out[a:b] = array(out.format, list(res))


def table_float(
    src: memoryview, out: memoryview, *, a: int, b: int, table: tuple[float, ...]
) -> None:
    """uint8 -> float lookup table over the flat range ``a:b``."""
    out[a:b] = array(out.format, list(map(table.__getitem__, src[a:b].tobytes())))


def gray(
    src: memoryview,
    out: memoryview,
    *,
    a: int,
    b: int,
    c: int,
    wr: float,
    wg: float,
    wb: float,
    to_uint8: bool,
) -> None:
    """Weighted sum of the first three channels of pixels ``a:b``."""
    r, g, bl = (src[a * c + k : b * c : c].tolist() for k in range(3))
    # wr*r + wg*g + wb*b: one multiplication, then two math.fma (ints too, for uint8)
    y = map(
        math.fma,
        bl,
        repeat(wb),
        map(math.fma, g, repeat(wg), map(mul, r, repeat(wr), strict=False)),
    )
    if to_uint8:  # (NaN -> 0, and clipped, as the float path's ubyte)
        out[a:b] = bytes(map(round, map(min, map(max, repeat(0.0), y), repeat(255.0))))
    else:
        out[a:b] = array(out.format, list(y))


def histogram(src: memoryview, *, a: int, b: int) -> tuple[int, ...]:
    """Counts of the 256 values of a uint8 range ``a:b``."""
    counts = Counter(src[a:b].tobytes())
    return tuple(map(counts.__getitem__, range(256)))


# -- neighbourhood filters -----------------------------------------------------------------


def correlate(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    weights: tuple[float, ...],
    kh: int,
    kw: int,
    cy: int,
    cx: int,
    mode: str,
    cval: float,
) -> None:
    """2-D correlation with a small ``kh x kw`` kernel centred at ``(cy, cx)``."""
    wc = w * c
    for y, rows in enumerate(windows(src, h, wc, r0, r1, cy, kh - 1 - cy, mode, cval), r0):
        acc: Any = repeat(0.0, wc)
        for i, row in enumerate(rows):
            p = hpad(row, w, c, cx, kw - 1 - cx, mode, cval)
            for j in range(kw):
                wt = weights[i * kw + j]
                if wt:  # acc + wt * shifted row in one C call (math.fma)
                    acc = map(math.fma, p[j * c : j * c + wc], repeat(wt), acc)
                if j % DEPTH == DEPTH - 1:
                    acc = list(acc)
            acc = list(acc)
        put(out, y, wc, acc)


def separable(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    wy: tuple[float, ...],
    wx: tuple[float, ...],
    mode: str,
    cval: float,
) -> None:
    """A column pass with ``wy`` then a row pass with ``wx`` (odd lengths, centred)."""
    wc, ky, kx = w * c, len(wy) // 2, len(wx) // 2
    for y, rows in enumerate(windows(src, h, wc, r0, r1, ky, ky, mode, cval), r0):
        v = list(_weighted(rows.__getitem__, wy))
        p = hpad(v, w, c, kx, kx, mode, cval * sum(wy))
        put(out, y, wc, _weighted(_shifted(p, c, wc), wx))


def _shifted(p: Row, c: int, wc: int) -> Callable[[int], Row]:
    """``j -> p[j*c : j*c + wc]``: the padded row seen ``j`` pixels to the right."""
    return lambda j: p[j * c : j * c + wc]


def _weighted(part: Callable[[int], Row], wts: tuple[float, ...]) -> Iterator[Any]:
    """``sum(wts[i] * part(i))`` elementwise, lazily, one ``math.fma`` per tap; equal
    weights at mirrored taps (a Gaussian's) are applied once to the sum of their two
    parts, so a tap pair costs one addition and one fma.
    """
    n = len(wts)
    if any(wts[i] != wts[n - 1 - i] for i in range(n // 2)):
        acc: Any = map(mul, part(0), repeat(wts[0]))
        for i in range(1, n):
            acc = map(math.fma, part(i), repeat(wts[i]), acc)
            if i % DEPTH == 0:
                acc = list(acc)
        return acc  # type: ignore[no-any-return]
    k = n // 2
    acc = map(mul, part(k), repeat(wts[k]))
    for i in range(k):
        pair = map(add, part(i), part(n - 1 - i), strict=False)
        acc = map(math.fma, pair, repeat(wts[i]), acc)
        if i % (DEPTH // 2) == DEPTH // 2 - 1:
            acc = list(acc)
    return acc  # type: ignore[no-any-return]


def box(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    k: int,
    scale: float,
    mode: str,
    cval: float,
) -> None:
    """Mean over a ``k x k`` box: column sums, then running sums along the row.

    Column sums: for ``k == 3`` two rows at a time share the sum of their two
    common source rows, and ``math.fma`` adds the third row and applies
    ``scale`` in one pass (2 passes a row, scale included); for ``k > 3`` a
    running sum (add the entering row, subtract the leaving one). Row sums:
    ``accumulate`` prefix sums, one ``sub`` of the prefix shifted by ``k``.
    """
    wc, lo = w * c, k // 2
    hi, fetch = k - 1 - lo, _RowCache(src, h, wc, mode, cval)
    factor = repeat(scale)
    v: Row = []
    for y in range(r0, r1):
        if k == 3:
            if y == r0 or (y - r0) % 2 == 0:  # s*(R[y] + R[y+1]): shared by rows y and y+1
                both = list(
                    map(mul, map(add, fetch(y), fetch(y + 1), strict=False), factor, strict=False)
                )
                v = list(map(math.fma, fetch(y - 1), factor, both, strict=False))
            else:
                v = list(map(math.fma, fetch(y + 1), factor, both, strict=False))
        elif y == r0 or k < 3:
            v = fetch(y - lo)
            for d in range(-lo + 1, hi + 1):
                v = list(map(add, v, fetch(y + d), strict=False))
        else:
            v = list(
                map(sub, map(add, v, fetch(y + hi), strict=False), fetch(y - lo - 1), strict=False)
            )
        fetch.forget(y - lo - 1)
        sums = _box_row(
            hpad(v, w, c, lo, hi, mode, cval * k * (scale if k == 3 else 1.0)), c, wc, k
        )
        put(out, y, wc, sums if k == 3 else map(mul, sums, factor, strict=False))


def _box_row(p: Row, c: int, wc: int, k: int) -> Row:
    """Sums of ``k`` neighbouring pixels along a padded row: prefix sums, one subtraction."""
    if c == 1:
        pre = list(accumulate(p, initial=0.0))
        return list(map(sub, islice(pre, k, None), pre, strict=False))
    res: Row = [0.0] * wc
    for ch in range(c):
        pre = list(accumulate(p[ch::c], initial=0.0))
        res[ch::c] = list(map(sub, islice(pre, k, None), pre, strict=False))
    return res


class _RowCache:
    """``fetch(y)``: source row ``y`` (border rules applied) as a list, each fetched once."""

    def __init__(self, src: memoryview, h: int, wc: int, mode: str, cval: float) -> None:
        self.src, self.h, self.wc, self.mode, self.cval = src, h, wc, mode, cval
        self.cache: dict[int, Row] = {}

    def __call__(self, y: int) -> Row:
        k = source_index(y, self.h, self.mode)
        row = self.cache.get(k)
        if row is None:
            row = self.cache[k] = _fetch(self.src, k, self.wc, self.cval)
        return row

    def forget(self, y: int) -> None:
        """Drop row ``y`` once no later output row reads it (rows are read in order)."""
        if 0 <= y < self.h:
            self.cache.pop(y, None)


def sobel(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    scale: float,
    mode: str,
    cval: float,
) -> None:
    """Sobel magnitude ``scale * hypot(gx, gy)`` with integer-exact gradients (uint8)."""
    wc, c2 = w * c, 2 * c
    for y, (a, m, b) in enumerate(windows(src, h, wc, r0, r1, 1, 1, mode, cval), r0):
        two = repeat(2.0)  # x + 2*y as one math.fma: exact for the integer sums of uint8
        s = hpad(
            list(map(math.fma, m, two, map(add, a, b, strict=False), strict=False)),
            w,
            c,
            1,
            1,
            mode,
            4 * cval,
        )
        d = hpad(list(map(sub, a, b, strict=False)), w, c, 1, 1, mode, 0)
        gx = map(sub, s[c2 : c2 + wc], s[:wc], strict=False)
        gy = map(
            math.fma,
            d[c : c + wc],
            two,
            map(add, d[:wc], d[c2 : c2 + wc], strict=False),
            strict=False,
        )
        put(out, y, wc, map(mul, map(math.hypot, gx, gy, strict=False), repeat(scale)))


def _med3(x: Row, y: Row, z: Any) -> Any:
    """Elementwise median of three sequences."""
    return map(
        max,
        map(min, x, y, strict=False),
        map(min, map(max, x, y, strict=False), z, strict=False),
        strict=False,
    )


def median(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    k: int,
    mode: str,
    cval: float,
) -> None:
    """Median over a ``k x k`` square (odd ``k``); 3x3 by sorted columns, else ``sorted``."""
    wc, r = w * c, k // 2
    for y, rows in enumerate(windows(src, h, wc, r0, r1, r, r, mode, cval), r0):
        if k == 3:
            a, m, b = rows
            lo = hpad(list(map(min, a, m, b, strict=False)), w, c, 1, 1, mode, cval)
            hi = hpad(list(map(max, a, m, b, strict=False)), w, c, 1, 1, mode, cval)
            mid = hpad(list(_med3(a, m, b)), w, c, 1, 1, mode, cval)
            sh = [slice(j * c, j * c + wc) for j in range(3)]
            maxlo = list(map(max, *(lo[s] for s in sh), strict=False))
            minhi = map(min, *(hi[s] for s in sh), strict=False)
            medmid = list(_med3(mid[sh[0]], mid[sh[1]], mid[sh[2]]))
            put(out, y, wc, _med3(maxlo, medmid, minhi))
        else:
            cols = hpad(list(zip(*rows, strict=True)), w, c, r, r, mode, (cval,) * k)
            put(
                out,
                y,
                wc,
                [sorted(sum(cols[x : x + k * c : c], ()))[k * k // 2] for x in range(wc)],
            )


def rank(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    h: int,
    w: int,
    c: int,
    k: int,
    op: str,
    mode: str,
    cval: float,
) -> None:
    """Grey erosion (``op='min'``) or dilation (``'max'``) with a ``k x k`` square."""
    wc, r, f = w * c, k // 2, min if op == "min" else max
    for y, rows in enumerate(windows(src, h, wc, r0, r1, r, r, mode, cval), r0):
        v = list(map(f, *rows, strict=False)) if k > 1 else rows[0]
        p = hpad(v, w, c, r, r, mode, cval)
        put(
            out,
            y,
            wc,
            map(f, *(p[j * c : j * c + wc] for j in range(k)), strict=False) if k > 1 else p,
        )


# -- geometry --------------------------------------------------------------------------------


def _gather(v: Row, idx: tuple[int, ...]) -> Any:
    return itemgetter(*idx)(v) if len(idx) > 1 else [v[idx[0]]]


def resize(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    wc: int,
    owc: int,
    ys: tuple[tuple[int, int, float], ...],
    i0: tuple[int, ...],
    i1: tuple[int, ...],
    f1: tuple[float, ...],
    scale: float,
    linear: bool,
) -> None:
    """Resample rows ``r0:r1``: row ``y`` mixes source rows ``ys[y]``, columns by index lists."""
    for y in range(r0, r1):
        ya, yb, fy = ys[y]
        ra = src[ya * wc : ya * wc + wc].tolist()
        if not linear:
            put(out, y, owc, _gather(ra, i0))
            continue
        rb = src[yb * wc : yb * wc + wc].tolist()
        far = map(mul, rb, repeat(scale * fy), strict=False)
        v = list(map(math.fma, ra, repeat(scale * (1.0 - fy)), far, strict=False))
        h0, h1 = _gather(v, i0), _gather(v, i1)
        put(out, y, owc, map(math.fma, f1, map(sub, h1, h0, strict=False), h0, strict=False))
