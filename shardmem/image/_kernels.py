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
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, islice, repeat
from operator import add, itemgetter, mul, sub
from struct import pack_into
from typing import Any

from shardmem._primitives.kernels.borders import source_index

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


def _plain_fma(x: Any, y: Any, z: Any) -> Any:
    """``x * y + z`` in two roundings: gives inf / NaN where ``math.fma`` raises."""
    return x * y + z


def either(compute: Callable[..., Row], /, *args: Any) -> Row:
    """``compute(math.fma, *args)``, or again with plain arithmetic for a row it raises on.

    ``math.fma`` raises ``ValueError`` (an invalid operation: ``inf * 0``, ``inf - inf``)
    and ``OverflowError`` where NumPy and SciPy give NaN and inf; such a row (rare: one
    holding non-finite or huge values) is recomputed as ``x * y + z``, which gives them.
    ``compute`` must materialise its row, so that the exception is raised here.
    """
    try:
        return compute(math.fma, *args)
    except ValueError, OverflowError:
        return compute(_plain_fma, *args)


def fmas(fma: Callable[[Any, Any, Any], Any], x: Any, y: Any, z: Any) -> Row:
    """``[fma(a, b, c) for a, b, c in zip(x, y, z)]`` in C (the shortest decides)."""
    return list(map(fma, x, y, z, strict=False))


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
        res = map(q.__mul__, _powers(list(map(max, vals, repeat(0.0))), p))
    elif p == q:  # nothing to stretch: every value is p, clipped to [0, 1]; NaN stays NaN
        v = min(max(p, 0.0), 1.0)
        res = map(min, map(max, vals, repeat(v)), repeat(v))
    else:  # stretch to [0, 1] from [p, q]
        clipped: Any = map(min, map(max, vals, repeat(p)), repeat(q))
        if math.isinf(q - p):  # the span overflows: stretch half of every value
            clipped, p, q = map((0.5).__mul__, clipped), 0.5 * p, 0.5 * q
        span = q - p  # divided by, as scikit-image does (1 / span can overflow)
        res = map(span.__rtruediv__, map((-p).__add__, clipped))
    out[a:b] = array(out.format, list(res))


def _powers(base: Row, p: float) -> Row:
    """``x ** p`` of each ``x >= 0`` (or NaN); inf where the power overflows, as NumPy's."""
    try:
        return list(map(pow, base, repeat(p)))
    except OverflowError:
        return list(map(_power, base, repeat(p)))


def _power(x: float, p: float) -> float:
    try:
        return float(pow(x, p))
    except OverflowError:
        return math.inf


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
    y = either(_gray_row, r, g, bl, (wr, wg, wb))
    if to_uint8:  # (NaN -> 0, and clipped, as the float path's ubyte)
        out[a:b] = bytes(map(round, map(min, map(max, repeat(0.0), y), repeat(255.0))))
    else:
        out[a:b] = array(out.format, list(y))


def _gray_row(fma: Any, r: Row, g: Row, bl: Row, wts: tuple[float, float, float]) -> Row:
    red = map(mul, r, repeat(wts[0]))
    return fmas(fma, bl, repeat(wts[2]), map(fma, g, repeat(wts[1]), red))


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
        padded = [hpad(row, w, c, cx, kw - 1 - cx, mode, cval) for row in rows]
        put(out, y, wc, either(_correlate_row, padded, weights, kw, c, wc))


def _correlate_row(  # noqa: PLR0917 - hot helper, positional calls
    fma: Any, padded: list[Row], weights: tuple[float, ...], kw: int, c: int, wc: int
) -> Row:
    """``sum(wt * shifted row)`` over the kernel's non-zero weights (zero ones skipped, as
    scipy does), one ``fma`` C call per weight."""
    acc: Any = repeat(0.0, wc)
    for i, p in enumerate(padded):
        for j in range(kw):
            wt = weights[i * kw + j]
            if wt:
                acc = map(fma, p[j * c : j * c + wc], repeat(wt), acc)
            if j % DEPTH == DEPTH - 1:
                acc = list(acc)
        acc = list(acc)
    return acc  # type: ignore[no-any-return]


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
        v = either(_weighted, rows.__getitem__, wy)
        p = hpad(v, w, c, kx, kx, mode, cval * sum(wy))
        put(out, y, wc, either(_weighted, _shifted(p, c, wc), wx))


def _shifted(p: Row, c: int, wc: int) -> Callable[[int], Row]:
    """``j -> p[j*c : j*c + wc]``: the padded row seen ``j`` pixels to the right."""
    return lambda j: p[j * c : j * c + wc]


def _weighted(fma: Any, part: Callable[[int], Row], wts: tuple[float, ...]) -> Row:
    """``sum(wts[i] * part(i))`` elementwise, lazily, one ``math.fma`` per tap; equal
    weights at mirrored taps (a Gaussian's) are applied once to the sum of their two
    parts, so a tap pair costs one addition and one fma.
    """
    n = len(wts)
    if any(wts[i] != wts[n - 1 - i] for i in range(n // 2)):
        return _unpaired(fma, part, wts)
    paired = _paired(fma, part, wts)
    if math.isfinite(sum(paired)):
        return paired
    return _unpaired(fma, part, wts)  # a pair's sum may overflow where its terms do not


def _unpaired(fma: Any, part: Callable[[int], Row], wts: tuple[float, ...]) -> Row:
    acc: Any = map(mul, part(0), repeat(wts[0]))
    for i in range(1, len(wts)):
        acc = map(fma, part(i), repeat(wts[i]), acc)
        if i % DEPTH == 0:
            acc = list(acc)
    return list(acc)


def _paired(fma: Any, part: Callable[[int], Row], wts: tuple[float, ...]) -> Row:
    n = len(wts)
    k = n // 2
    acc: Any = map(mul, part(k), repeat(wts[k]))
    for i in range(k):
        pair = map(add, part(i), part(n - 1 - i), strict=False)
        acc = map(fma, pair, repeat(wts[i]), acc)
        if i % (DEPTH // 2) == DEPTH // 2 - 1:
            acc = list(acc)
    return list(acc)


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
    """Mean over a ``k x k`` box: column sums, then window sums along the row.

    Column sums: for ``k == 3`` two rows at a time share the sum of their two
    common source rows, and ``math.fma`` adds the third row and applies
    ``scale`` in one pass (2 passes a row, scale included); for ``k > 3`` a
    running sum (add the entering row, subtract the leaving one), recomputed
    directly where the subtraction would cancel (see `_Column`). Row sums:
    `_box_row`, which never subtracts.
    """
    wc, lo = w * c, k // 2
    hi, fetch = k - 1 - lo, _RowCache(src, h, wc, mode, cval)
    factor = repeat(scale)
    # uint8 sums of k > 3 are of integers (the scale is applied after): exact, so prefix sums,
    # subtracted, cannot cancel, and they are cheaper than `_box_row` for wide windows
    exact = src.format == "B" and abs(cval) <= 255
    column = _Column(fetch, k, lo, exact=exact)
    row_sums = _prefix_row if exact and k > 3 else _box_row
    v: Row = []
    both: Row = []
    for y in range(r0, r1):
        if k == 3:
            if (y - r0) % 2 == 0:  # s*(R[y] + R[y+1]): shared by rows y and y+1
                both = list(
                    map(mul, map(add, fetch(y), fetch(y + 1), strict=False), factor, strict=False)
                )
            nxt = fetch(y - 1 if (y - r0) % 2 == 0 else y + 1)
            v = either(fmas, nxt, factor, both)
        elif y == r0 or k < 3 or column.cancels(y):
            v = column.direct(y)
        else:
            v = list(
                map(sub, map(add, v, fetch(y + hi), strict=False), fetch(y - lo - 1), strict=False)
            )
        fetch.forget(y - lo - 1)
        sums = row_sums(
            hpad(v, w, c, lo, hi, mode, cval * k * (scale if k == 3 else 1.0)), c, wc, k
        )
        put(out, y, wc, sums if k == 3 else map(mul, sums, factor, strict=False))


def _prefix_row(p: Row, c: int, wc: int, k: int) -> Row:
    """Sums of ``k`` neighbouring pixels by prefix sums and one subtraction (exact integers)."""
    if c == 1:
        pre = list(accumulate(p, initial=0))
        return list(map(sub, islice(pre, k, None), pre, strict=False))
    res: Row = [0] * wc
    for ch in range(c):
        pre = list(accumulate(p[ch::c], initial=0))
        res[ch::c] = list(map(sub, islice(pre, k, None), pre, strict=False))
    return res


class _Column:
    """Column sums over ``k`` rows for `box`, and when a running sum of them would cancel.

    Subtracting the row that leaves the window loses what a much larger value
    (or an inf or NaN) added before: ``(1e20 + 1) - 1e20`` is 0, ``inf - inf``
    is NaN. In a float image the running sum is therefore recomputed directly
    (``k`` additions) when the leaving row holds a non-finite value, or when a
    row entered since the last direct sum is over 2**16 times larger than every
    row left in the window. Integer (uint8) sums are exact and never checked.
    """

    RATIO = 2.0**16

    def __init__(self, fetch: _RowCache, k: int, lo: int, *, exact: bool) -> None:
        self.fetch, self.k, self.lo, self.exact = fetch, k, lo, exact
        self.sizes: dict[int, float] = {}
        self.since = 0.0  # greatest magnitude entered since the last direct sum

    def size(self, y: int) -> float:
        """The largest ``abs`` of row ``y``; inf when it holds inf or NaN (or its sum overflows)."""
        key = source_index(y, self.fetch.h, self.fetch.mode)
        m = self.sizes.get(key)
        if m is None:
            row = self.fetch(y)  # (three C loops that allocate nothing)
            top, bottom = max(row), min(row)
            m = max(top, -bottom) if math.isfinite(sum(row)) else math.inf
            self.sizes[key] = m
        return m

    def direct(self, y: int) -> Row:
        """Sum of rows ``y - lo .. y - lo + k - 1``, added one by one."""
        first = y - self.lo
        v = self.fetch(first)
        for d in range(first + 1, first + self.k):
            v = list(map(add, v, self.fetch(d), strict=False))
        if not self.exact:
            self.since = max(map(self.size, range(first, first + self.k)))
        return v

    def cancels(self, y: int) -> bool:
        """Whether moving the window from row ``y - 1`` to ``y`` by a running sum would cancel."""
        if self.exact:
            return False
        first = y - self.lo
        self.since = max(self.since, self.size(first + self.k - 1))
        if not math.isfinite(self.size(first - 1)):
            return True
        return self.since > self.RATIO * max(map(self.size, range(first, first + self.k)))


def _box_row(p: Row, c: int, wc: int, k: int) -> Row:
    """Sums of ``k`` neighbouring pixels along a padded row, without subtraction.

    ``level`` holds the sums of ``span`` neighbouring pixels (1, 2, 4 ...), each
    level two shifted copies of the one before added; the sum of ``k`` pixels
    adds one window of each level whose bit is set in ``k``. It takes about
    ``log2(k)`` passes, and a huge or non-finite pixel reaches only the sums of
    the windows that hold it (prefix sums, subtracted, carry it to every pixel
    to its right).
    """
    total: Row | None = None
    level, span, off = p, 1, 0
    while span <= k:
        if k & span:
            part = level[off * c : off * c + wc]
            total = part if total is None else list(map(add, total, part, strict=False))
            off += span
        if 2 * span <= k:
            level = list(map(add, level, level[span * c :], strict=False))
        span *= 2
    return total if total is not None else []


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
        # x + 2*y as one math.fma: exact for the integer sums of uint8
        s = hpad(either(_twice_plus, m, a, b), w, c, 1, 1, mode, 4 * cval)
        d = hpad(list(map(sub, a, b, strict=False)), w, c, 1, 1, mode, 0)
        gx = map(sub, s[c2 : c2 + wc], s[:wc], strict=False)
        gy = either(_twice_plus, d[c : c + wc], d[:wc], d[c2 : c2 + wc])
        put(out, y, wc, map(mul, map(math.hypot, gx, gy, strict=False), repeat(scale)))


def _twice_plus(fma: Any, m: Row, a: Row, b: Row) -> Row:
    """``2*m + (a + b)`` elementwise, one fma."""
    return fmas(fma, m, repeat(2.0), map(add, a, b, strict=False))


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


def _getter(idx: Sequence[int]) -> Callable[[Row], Row]:
    """``v -> [v[i] for i in idx]`` in C: one ``itemgetter`` built per task for rows of up
    to 2**20 pixels, else a ``map`` over the compact index table (no 10**7-argument call)."""
    if 1 < len(idx) <= 1 << 20:
        pick = itemgetter(*idx)
        return lambda v: list(pick(v))
    return lambda v: list(map(v.__getitem__, idx))


def gather(v: Row, c: int, pick: Callable[[Row], Row]) -> Row:
    """Pixels of row ``v`` (``c`` interleaved channels) at the columns ``pick`` selects."""
    if c == 1:
        return pick(v)
    planes = [pick(v[k::c]) for k in range(c)]
    res: Row = [0] * (len(planes[0]) * c)
    for k, plane in enumerate(planes):
        res[k::c] = plane
    return res


def resize(
    src: memoryview,
    out: memoryview,
    *,
    r0: int,
    r1: int,
    c: int,
    wc: int,
    owc: int,
    ys: tuple[bytes, bytes, bytes],
    xs: tuple[bytes, bytes, bytes],
    scale: float,
    linear: bool,
) -> None:
    """Resample rows ``r0:r1``: output row ``y`` mixes source rows ``ya[y]`` and ``yb[y]``
    (weight ``fy[y]`` on the second), output column ``x`` columns ``xa[x]`` and ``xb[x]``.

    The tables are the bytes of compact arrays (int64, int64, float64), one
    entry per output row or column (not per element); each column table is
    turned into a gatherer once per task.
    """
    ya, yb, xa, xb = (memoryview(t).cast("q") for t in (*ys[:2], *xs[:2]))
    fy, fx = memoryview(ys[2]).cast("d"), memoryview(xs[2]).cast("d")
    pa = _getter(xa)
    if not linear:
        for y in range(r0, r1):
            put(out, y, owc, gather(src[ya[y] * wc : ya[y] * wc + wc].tolist(), c, pa))
        return
    pb = _getter(xb)
    f1 = [f for f in fx for _ in range(c)] if c > 1 else fx.tolist()
    for y in range(r0, r1):
        ra = src[ya[y] * wc : ya[y] * wc + wc].tolist()
        rb = src[yb[y] * wc : yb[y] * wc + wc].tolist()
        if fy[y]:
            far = list(map(mul, rb, repeat(scale * fy[y]), strict=False))
            v = either(fmas, ra, repeat(scale * (1.0 - fy[y])), far)
        else:  # on a source row: the other row has weight 0 (and may hold inf)
            v = list(map(mul, ra, repeat(scale), strict=False))
        h0, h1 = gather(v, c, pa), gather(v, c, pb)
        step = list(map(sub, h1, h0, strict=False))
        res = either(fmas, f1, step, h0)
        if not math.isfinite(sum(res)):  # h0 + f*(h1 - h0) is NaN for h0 = inf: mix exactly
            res = list(map(_mix, f1, h0, h1, strict=False))
        put(out, y, owc, res)


def _mix(f: float, a: float, b: float) -> float:
    """``(1 - f) * a + f * b``, a term of weight 0 left out (it may be inf)."""
    return a if not f else (1.0 - f) * a + f * b
