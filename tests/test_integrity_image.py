"""No silent wrong answer from shardmem.image: out= the input or overlapping it, degenerate images.

Every image operation that takes ``out=`` is run, on hypothesis-drawn images
(uint8, float32, float64; gray and colour; empty, single-pixel and constant
ones) with 1 and 2 workers and every border mode, three ways: out of place,
against scipy.ndimage / scikit-image; with ``out=`` the input itself; and with
``out=`` a view of the same memory shifted by whole rows (before or after the
input, of the output's own dtype). The last two must give exactly the
out-of-place answer, as ``scipy.ndimage``'s ``output=`` does.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage as ndi
from skimage import color, exposure, filters, transform

import shardmem as sm
from shardmem import image
from shardmem._data.array import SharedArray, c_strides

try:  # the conftest instance pytest loaded, whose leak check knows the session pools
    from conftest import get_pool  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - run as a package
    from tests.conftest import get_pool

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
W2 = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])  # an even height: the centre row matters
W3 = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.0, 0.0]])


@dataclass(frozen=True)
class Case:
    """One drawn call: the image, border mode and cval (image units), a size, an output shape."""

    img: np.ndarray
    mode: str
    cval: float
    size: int
    shape: tuple[int, int]
    order: int


def _float(img: np.ndarray) -> np.ndarray:
    """The image in the filters' float scale (uint8 / 255, as skimage.img_as_float)."""
    return img / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)


def _unit_cval(case: Case) -> float:
    """cval of the float-result filters: in the [0, 1] scale."""
    return case.cval / 255.0 if case.img.dtype == np.uint8 else case.cval


def _planes(img: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` on each channel of an H x W x C image (on the image itself when H x W)."""
    if img.ndim == 2:
        return fn(img)
    return np.stack([fn(img[..., k]) for k in range(img.shape[2])], axis=-1)


def _nd(size: int, img: np.ndarray) -> tuple[int, ...]:
    return (size, size, 1)[: img.ndim]


def _ref_gamma(case: Case) -> np.ndarray:
    if case.img.dtype == np.uint8:
        table = np.minimum(np.rint(255 * (np.arange(256) / 255) ** 0.5), 255).astype(np.uint8)
        return table[case.img]
    return np.maximum(case.img.astype(np.float64), 0) ** 0.5


def _ref_rescale(case: Case) -> np.ndarray:
    if case.img.dtype == np.uint8:
        return exposure.rescale_intensity(case.img)
    # shardmem's float output range is [0, 1]; scikit-image's default is [-1, 1] below 0
    return exposure.rescale_intensity(_float(case.img), out_range=(0.0, 1.0))


def _ref_threshold(case: Case) -> np.ndarray:
    return (_float(case.img) > 0.5) * 255


def _ref_to_uint8(case: Case) -> np.ndarray:
    if case.img.dtype == np.uint8:
        return case.img
    return np.clip(np.rint(255 * case.img.astype(np.float64)), 0, 255)


def _ref_equalize(case: Case) -> np.ndarray:
    if case.img.size == 0:
        return np.zeros(case.img.shape)
    # over every value of the image (a colour one too, flattened as scikit-image does)
    return exposure.equalize_hist(case.img.reshape(-1)).reshape(case.img.shape)


def _ref_resize(case: Case) -> np.ndarray:
    shape = case.shape + case.img.shape[2:]
    return transform.resize(
        case.img, shape, order=case.order, anti_aliasing=False, preserve_range=case.order == 0
    )


@dataclass(frozen=True)
class Op:
    """How to call one operation and what to compare it with."""

    call: Callable[..., sm.SharedArray]
    reference: Callable[[Case], np.ndarray]
    tol: float
    out_dtype: Callable[[np.dtype[Any]], str] = lambda d: "float32"
    out_shape: Callable[[Case], tuple[int, ...]] = lambda c: c.img.shape
    dtypes: tuple[type, ...] = (np.uint8, np.float32, np.float64)
    colour_only: bool = False
    tol8: float | None = None  # the tolerance for a uint8 image, when not ``tol``


def _keep(d: np.dtype[Any]) -> str:
    return str(d)


def _filter(name: str, *args: object, **options: object) -> Callable[..., sm.SharedArray]:
    fn = getattr(image, name)

    def call(x: object, case: Case, **kw: object) -> sm.SharedArray:
        return fn(x, *args, mode=case.mode, cval=_unit_cval(case), **options, **kw)  # type: ignore[no-any-return]

    return call


def _rank(name: str) -> Callable[..., sm.SharedArray]:
    fn = getattr(image, name)

    def call(x: object, case: Case, **kw: object) -> sm.SharedArray:
        return fn(x, mode=case.mode, cval=case.cval, size=case.size | 1, **kw)  # type: ignore[no-any-return]

    return call


OPS: dict[str, Op] = {
    "invert": Op(
        lambda x, case, **kw: image.invert(x, **kw),
        lambda c: 255 - c.img if c.img.dtype == np.uint8 else 1 - c.img.astype(np.float64),
        1e-6,
        out_dtype=_keep,
    ),
    "adjust_gamma": Op(
        lambda x, case, **kw: image.adjust_gamma(x, gamma=0.5, **kw), _ref_gamma, 1e-6, _keep
    ),
    "threshold": Op(
        lambda x, case, **kw: image.threshold(x, thresh=0.5, **kw),
        _ref_threshold,
        0,
        out_dtype=lambda d: "uint8",
    ),
    "rescale_intensity": Op(
        lambda x, case, **kw: image.rescale_intensity(x, **kw), _ref_rescale, 1e-6, _keep, tol8=1
    ),
    "to_uint8": Op(
        lambda x, case, **kw: image.to_uint8(x, **kw),
        _ref_to_uint8,
        0,
        out_dtype=lambda d: "uint8",
    ),
    "rgb2gray": Op(
        lambda x, case, **kw: image.rgb2gray(x, **kw),
        lambda c: color.rgb2gray(c.img[..., :3]),  # (alpha is ignored)
        1e-6,
        out_shape=lambda c: c.img.shape[:2],
        colour_only=True,
    ),
    "equalize_hist": Op(
        lambda x, case, **kw: image.equalize_hist(x, **kw),
        _ref_equalize,
        1e-6,
        dtypes=(np.uint8,),
    ),
    "correlate": Op(
        _filter("correlate", W2.tolist()),
        lambda c: _planes(
            _float(c.img), lambda p: ndi.correlate(p, W2, mode=c.mode, cval=_unit_cval(c))
        ),
        1e-5,
    ),
    "convolve": Op(
        _filter("convolve", W3.tolist()),
        lambda c: _planes(
            _float(c.img), lambda p: ndi.convolve(p, W3, mode=c.mode, cval=_unit_cval(c))
        ),
        1e-5,
    ),
    "box_blur": Op(
        lambda x, case, **kw: image.box_blur(
            x, size=case.size, mode=case.mode, cval=_unit_cval(case), **kw
        ),
        lambda c: ndi.uniform_filter(
            _float(c.img), _nd(c.size, c.img), mode=c.mode, cval=_unit_cval(c)
        ),
        1e-5,
    ),
    "gaussian": Op(
        _filter("gaussian", sigma=1.0),
        lambda c: _planes(
            _float(c.img),
            lambda p: ndi.gaussian_filter(p, 1.0, mode=c.mode, cval=_unit_cval(c), truncate=4.0),
        ),
        1e-5,
    ),
    "sobel": Op(
        _filter("sobel"),
        lambda c: _planes(
            _float(c.img), lambda p: filters.sobel(p, mode=c.mode, cval=_unit_cval(c))
        ),
        1e-5,
    ),
    "median": Op(
        _rank("median"),
        lambda c: ndi.median_filter(c.img, _nd(c.size | 1, c.img), mode=c.mode, cval=c.cval),
        0,
        _keep,
    ),
    "erosion": Op(
        _rank("erosion"),
        lambda c: ndi.grey_erosion(c.img, _nd(c.size | 1, c.img), mode=c.mode, cval=c.cval),
        0,
        _keep,
    ),
    "dilation": Op(
        _rank("dilation"),
        lambda c: ndi.grey_dilation(c.img, _nd(c.size | 1, c.img), mode=c.mode, cval=c.cval),
        0,
        _keep,
    ),
    "resize": Op(
        lambda x, case, **kw: image.resize(x, case.shape, order=case.order, **kw),
        _ref_resize,
        1e-5,
        out_dtype=lambda d: "float32",  # order=1; order=0 keeps the dtype (see _out_dtype)
        out_shape=lambda c: c.shape + c.img.shape[2:],
    ),
}


def _out_dtype(name: str, case: Case) -> str:
    if name == "resize" and case.order == 0:
        return str(case.img.dtype)
    if name == "rescale_intensity" or name in {"invert", "adjust_gamma"}:
        return str(case.img.dtype)
    return OPS[name].out_dtype(case.img.dtype)


def test_every_operation_with_out_is_covered() -> None:
    """A new operation taking out= fails here until it is added to OPS."""
    takes_out = {
        name
        for name in image.__all__
        if callable(fn := getattr(image, name)) and "out" in inspect.signature(fn).parameters
    }
    assert takes_out == set(OPS)


# -- strategies --------------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn, name: str) -> Case:
    op = OPS[name]
    dtype = draw(st.sampled_from(op.dtypes))
    h = draw(st.integers(1 if name == "resize" else 0, 7))
    w = draw(st.integers(1 if name == "resize" else 0, 7))
    channels = (
        draw(st.sampled_from([3, 4]))
        if op.colour_only
        else draw(st.sampled_from([None, None, 1, 3]))
    )
    shape = (h, w) if channels is None else (h, w, channels)
    elements: st.SearchStrategy[Any]
    img: np.ndarray
    if dtype == np.uint8:
        elements = st.integers(0, 255)
    else:  # the [0, 1] range of float images (and a little outside it)
        elements = st.floats(-0.25, 1.25, width=32 if dtype == np.float32 else 64)
    if draw(st.booleans()):  # a constant image
        img = np.full(shape, draw(elements), dtype)
    else:
        img = draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype == np.uint8:
        cval = float(draw(st.integers(0, 255)))
    else:
        cval = draw(st.floats(-0.5, 1.5, width=32))
    return Case(
        img=img,
        mode=draw(st.sampled_from(MODES)),
        cval=cval,
        size=draw(st.integers(1, 5)),  # (odd for the rank filters: size | 1)
        shape=(draw(st.integers(1, 9)), draw(st.integers(1, 9))),
        order=draw(st.sampled_from([0, 1])),
    )


def _view(base: SharedArray, dtype: str, shape: tuple[int, ...], offset: int) -> SharedArray:
    """A C-ordered array of ``dtype`` in ``base``'s memory from byte ``offset``.

    (No public call views one buffer as two dtypes; the test builds them directly.)
    """
    kind = sm.asarray(np.zeros(0, dtype)).dtype
    strides = c_strides(shape, kind.itemsize)
    return SharedArray._new(base.buffer, kind, shape, strides, base._offset + offset)


def _overlapping(
    img: np.ndarray, out_dtype: str, out_shape: tuple[int, ...], shift: int
) -> tuple[SharedArray, SharedArray]:
    """The image and an output in one buffer, the output ``shift`` image rows after it."""
    row = img.itemsize * math.prod(img.shape[1:])
    gap = -(-abs(shift) * row // 8) * 8  # whole rows, rounded up to a multiple of 8 bytes
    src_at, out_at = (0, gap) if shift >= 0 else (gap, 0)
    out_bytes = math.prod(out_shape) * np.dtype(out_dtype).itemsize
    base = sm.zeros(max(src_at + img.nbytes, out_at + out_bytes) + 8, dtype="uint8")
    src = _view(base, str(img.dtype), img.shape, src_at)
    np.asarray(src)[...] = img
    return src, _view(base, out_dtype, out_shape, out_at)


def _check(name: str, case: Case, workers: int, shift: int) -> None:
    op, pool = OPS[name], get_pool(workers)
    want = np.asarray(op.call(sm.asarray(case.img), case, pool=pool))
    assert want.shape == op.out_shape(case)
    assert str(want.dtype) == _out_dtype(name, case)
    ref = op.reference(case) if case.img.size else np.zeros(want.shape)
    tol = op.tol8 if op.tol8 is not None and case.img.dtype == np.uint8 else op.tol
    np.testing.assert_allclose(want.astype(np.float64), ref, rtol=0, atol=tol)
    # out= overlapping the input, shifted by whole rows (0: the same first byte)
    src, out = _overlapping(case.img, _out_dtype(name, case), want.shape, shift)
    assert op.call(src, case, out=out, pool=pool) is out
    np.testing.assert_array_equal(np.asarray(out), want)
    # out= the input itself, where the output has the input's dtype and shape
    if str(want.dtype) == str(case.img.dtype) and want.shape == case.img.shape:
        x = sm.asarray(case.img)
        assert op.call(x, case, out=x, pool=pool) is x
        np.testing.assert_array_equal(np.asarray(x), want)


@pytest.mark.parametrize("name", sorted(OPS))
@settings(deadline=None, max_examples=30)
@given(data=st.data(), workers=st.integers(1, 2))
def test_out_the_input_or_overlapping_it_gives_the_out_of_place_answer(
    name: str, data: st.DataObject, workers: int
) -> None:
    case = data.draw(cases(name), label="case")
    h = case.img.shape[0]
    shift = data.draw(st.integers(-h - 1, h + 1), label="shift")
    _check(name, case, workers, shift)


@pytest.mark.parametrize("name", ["median", "erosion", "dilation", "gaussian", "box_blur"])
def test_in_place_on_a_photograph_crop_matches_out_of_place(name: str) -> None:
    """The case the defect was found on: many bands, large differences between neighbours."""
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    if name in {"gaussian", "box_blur"}:
        img = img.astype(np.float32)
    case = Case(img=img, mode="reflect", cval=0.0, size=3, shape=(1, 1), order=1)
    for shift in (0, 1, -1, 7):
        _check(name, case, 2, shift)


# -- rescale_intensity: ranges of one value, and others ----------------------------------------


@settings(deadline=None, max_examples=40)
@given(
    value=st.integers(0, 255),
    shape=st.sampled_from([(1, 1), (3, 4), (2, 3, 3)]),
    workers=st.integers(1, 2),
)
def test_rescale_of_a_constant_uint8_image_returns_it_unchanged(
    value: int, shape: tuple[int, ...], workers: int
) -> None:
    img = np.full(shape, value, np.uint8)
    got = image.rescale_intensity(img, pool=get_pool(workers))
    np.testing.assert_array_equal(np.asarray(got), exposure.rescale_intensity(img))
    np.testing.assert_array_equal(np.asarray(got), img)


@settings(deadline=None, max_examples=40)
@given(value=st.floats(-2.0, 3.0, width=32), workers=st.integers(1, 2))
def test_rescale_of_a_constant_float_image_is_the_value_clipped_to_0_1(
    value: float, workers: int
) -> None:
    img = np.full((3, 5), value, np.float32)
    got = np.asarray(image.rescale_intensity(img, pool=get_pool(workers)))
    np.testing.assert_array_equal(got, np.float32(min(max(value, 0.0), 1.0)))
    if value >= 0:  # (scikit-image's output range is [-1, 1] below 0)
        want = exposure.rescale_intensity(img.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)


@settings(deadline=None, max_examples=40)
@given(
    img=hnp.arrays(np.uint8, (4, 5), elements=st.integers(0, 255)),
    lo=st.integers(-20, 280),
    width=st.integers(0, 60),
    workers=st.integers(1, 2),
)
def test_rescale_in_range_follows_scikit_image_including_one_value(
    img: np.ndarray, lo: int, width: int, workers: int
) -> None:
    """uint8 with in_range=(lo, hi), lo == hi included: scikit-image's answer (truncated)."""
    got = image.rescale_intensity(img, in_range=(lo, lo + width), pool=get_pool(workers))
    want = exposure.rescale_intensity(img, in_range=(lo, lo + width))
    np.testing.assert_allclose(np.asarray(got).astype(float), want, rtol=0, atol=1)
    if width == 0:  # every pixel is lo, clipped to 0..255, exactly
        np.testing.assert_array_equal(np.asarray(got), min(max(lo, 0), 255))


def test_rescale_float_in_range_of_one_value() -> None:
    img = np.array([[0.1, 0.5, 0.9]], np.float32)
    got = image.rescale_intensity(img, in_range=(0.5, 0.5), pool=get_pool(2))
    assert np.asarray(got).tolist() == [[0.5, 0.5, 0.5]]
    got = image.rescale_intensity(img, in_range=(7, 7), pool=get_pool(2))
    assert np.asarray(got).tolist() == [[1.0, 1.0, 1.0]]


def test_rescale_refuses_a_reversed_range() -> None:
    with pytest.raises(sm.InvalidArgumentError, match=r"in_range=\(200, 10\) is reversed"):
        image.rescale_intensity(np.zeros((2, 2), np.uint8), in_range=(200, 10))


def test_rescale_ignores_nan_in_the_image_range_and_keeps_nan_pixels() -> None:
    """Wherever the NaN is (Python's min keeps only a leading one), the range is the numbers'."""
    for img in ([[np.nan, 1.0, 3.0]], [[1.0, np.nan, 3.0]], [[1.0, 3.0, np.nan]]):
        got = np.asarray(image.rescale_intensity(np.array(img, np.float32), pool=get_pool(2)))
        want = (np.array(img) - 1.0) / 2.0
        np.testing.assert_array_equal(got, want.astype(np.float32))
    got = np.asarray(image.rescale_intensity(np.full((2, 2), np.nan, np.float32)))
    assert np.isnan(got).all()


def test_rescale_of_a_tiny_range_does_not_overflow() -> None:
    """A range narrower than 1 / float max: divided by, not multiplied by its inverse."""
    tiny = 5e-324
    img = np.array([[0.0, tiny]], np.float64)
    got = np.asarray(image.rescale_intensity(img, pool=get_pool(2)))
    assert got.tolist() == [[0.0, 1.0]]


def test_only_a_neighbourhood_or_a_shifted_overlap_copies_the_image() -> None:
    """In place, a point operation reads each element before writing it: no copy is needed."""
    x = sm.asarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert image._readable(x, x, True) is x  # point operation, same elements
    assert image._readable(x, x, False) is not x  # neighbourhood: a copy
    top, shifted = x[:2], x[1:]
    assert isinstance(top, SharedArray)
    assert isinstance(shifted, SharedArray)
    assert image._readable(top, shifted, True) is not top  # point operation, shifted: a copy
    assert image._readable(top, top, True) is top
    other = sm.zeros((3, 4), dtype="uint8")
    assert image._readable(x, other, False) is x  # no shared memory: no copy


def test_adjust_gamma_counts_negative_float_values_as_zero() -> None:
    img = np.array([[-0.5, 0.0, 0.25]], np.float32)
    got = np.asarray(image.adjust_gamma(img, gamma=0.5, gain=2.0, pool=get_pool(2)))
    assert got.tolist() == [[0.0, 0.0, 1.0]]


DEGENERATE = {
    "one pixel": np.array([[0.75]]),
    "one colour pixel": np.array([[[0.0, 0.5, 1.0]]]),
    "one row": np.linspace(0, 1, 5)[None, :],
    "one column": np.linspace(0, 1, 5)[:, None],
    "constant": np.full((4, 5), 0.25),
    "constant colour": np.full((3, 4, 3), 0.5),
    "no rows": np.zeros((0, 5)),
    "no columns": np.zeros((4, 0, 3)),
}


def _applies(name: str, which: str) -> bool:
    """resize refuses an image without pixels; rgb2gray needs channels."""
    base = DEGENERATE[which]
    return not (name == "resize" and base.size == 0) and not (
        OPS[name].colour_only and base.ndim == 2
    )


@pytest.mark.parametrize(
    ("name", "which"),
    [(n, w) for n in sorted(OPS) for w in sorted(DEGENERATE) if _applies(n, w)],
)
def test_degenerate_images_in_every_border_mode(name: str, which: str) -> None:
    """Every operation, each mode, uint8 and float32: empty, single-pixel and constant images."""
    base = DEGENERATE[which]
    for dtype in OPS[name].dtypes[:2]:
        img = np.rint(base * 255).astype(np.uint8) if dtype == np.uint8 else base.astype(dtype)
        for mode, shift in zip(MODES, (0, 1, -1, 2, 0), strict=True):
            case = Case(img=img, mode=mode, cval=1.0, size=3, shape=(3, 2), order=1)
            _check(name, case, 2, shift)


# -- non-finite and huge values: inf, -inf, NaN, near float max ----------------------------------
#
# Every float operation, on images mixing ordinary values with inf, -inf, NaN and huge finite
# ones, gives the reference's inf / NaN / overflow, never a builtin error from a worker (math.fma
# raises on them; the kernels fall back to plain arithmetic for such rows) and never a NaN or 0
# carried to pixels whose window does not hold the value (box blur's former prefix sums).
# Huge is 1e300 for float64 and 1e38 for float32; for the operations that sum terms of both
# signs (filters, rgb2gray) float64's is 1e30: the rounding noise of a cancelling sum of 1e300s
# (about 1e284) is itself over float32's range, so the float32 result of the reference would be
# inf by chance. Sums near float max are tried one by one in tests/test_image.py.

_BIG = {np.float32: 1e38, np.float64: 1e300}
_SUMS = {"correlate", "convolve", "box_blur", "gaussian", "sobel", "rgb2gray"}


def _huge_elements(dtype: type, big: float, nan: bool) -> st.SearchStrategy[float]:
    specials = [math.inf, -math.inf, big, -big, big / 7] + ([math.nan] if nan else [])
    width = 32 if dtype == np.float32 else 64
    return st.one_of(st.floats(-2.0, 2.0, width=width), st.sampled_from(specials))


def _ref_rescale_finite(img: np.ndarray) -> np.ndarray:
    """Stretch onto [0, 1] from the least and greatest finite value (halves: no overflow)."""
    x = img.astype(np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        finite = x[~np.isnan(x)]
    if finite.size == 0:
        return x
    lo, hi = finite.min(), finite.max()
    clipped = np.clip(x, lo, hi)
    if lo == hi:
        return np.clip(clipped, 0.0, 1.0)
    return (clipped / 2 - lo / 2) / (hi / 2 - lo / 2)


def _ref_sobel(p: np.ndarray, mode: str, cval: float) -> np.ndarray:
    """``hypot(gx, gy) / (4 sqrt 2)`` (IEEE hypot: inf beside NaN is inf), the kernels by scipy."""
    kx = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    gx = ndi.correlate(p, kx, mode=mode, cval=cval)
    gy = ndi.correlate(p, kx.T, mode=mode, cval=cval)
    return np.hypot(gx, gy) / (4 * math.sqrt(2))


def _ref_bilinear(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """skimage.transform.resize(order=1)'s sampling, each output the mix of its two (four)
    neighbours with weight-0 terms left out: ``(1 - f) a + f b``."""

    def axis(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.abs((np.arange(m) + 0.5) * (n / m) - 0.5)
        x = np.maximum(0.0, np.minimum(x, 2 * (n - 1) - x))
        i = x.astype(np.int64)
        return i, np.minimum(i + 1, n - 1), x - i

    def mix(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(f == 0, a, (1 - f) * a + f * b)

    x = img.astype(np.float64)
    y0, y1, fy = axis(x.shape[0], shape[0])
    x0, x1, fx = axis(x.shape[1], shape[1])
    fy = fy.reshape((-1,) + (1,) * (x.ndim - 1))
    rows = mix(x[y0], x[y1], fy)
    fx = fx.reshape((1, -1) + (1,) * (x.ndim - 2))
    return mix(rows[:, x0], rows[:, x1], fx)


def _ref_gray(img: np.ndarray) -> np.ndarray:
    x = img[..., :3].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return (0.2125 * x[..., 0] + 0.7154 * x[..., 1]) + 0.0721 * x[..., 2]


NONFINITE: dict[str, tuple[Callable[..., sm.SharedArray], Callable[[Case], np.ndarray], bool]] = {
    # name: (call, reference in float64, whether NaN pixels are drawn)
    "invert": (OPS["invert"].call, lambda c: 1 - c.img.astype(np.float64), True),
    "adjust_gamma": (OPS["adjust_gamma"].call, _ref_gamma, True),
    "threshold": (OPS["threshold"].call, _ref_threshold, True),
    "to_uint8": (
        OPS["to_uint8"].call,
        lambda c: np.clip(np.rint(255 * np.nan_to_num(c.img.astype(np.float64), nan=0.0)), 0, 255),
        True,
    ),
    "rescale_intensity": (
        OPS["rescale_intensity"].call,
        lambda c: _ref_rescale_finite(c.img),
        True,
    ),
    "rgb2gray": (OPS["rgb2gray"].call, lambda c: _ref_gray(c.img), True),
    "correlate": (OPS["correlate"].call, OPS["correlate"].reference, True),
    "convolve": (OPS["convolve"].call, OPS["convolve"].reference, True),
    "box_blur": (
        OPS["box_blur"].call,
        lambda c: _planes(
            c.img.astype(np.float64),
            lambda p: ndi.correlate(
                p, np.full((c.size, c.size), 1.0 / c.size**2), mode=c.mode, cval=c.cval
            ),
        ),
        True,
    ),
    "gaussian": (OPS["gaussian"].call, OPS["gaussian"].reference, True),
    "sobel": (
        OPS["sobel"].call,
        lambda c: _planes(c.img.astype(np.float64), lambda p: _ref_sobel(p, c.mode, c.cval)),
        True,
    ),
    # rank filters: order statistics of inf, -inf and huge values (NaN has no order)
    "median": (OPS["median"].call, OPS["median"].reference, False),
    "erosion": (OPS["erosion"].call, OPS["erosion"].reference, False),
    "dilation": (OPS["dilation"].call, OPS["dilation"].reference, False),
    "resize": (
        OPS["resize"].call,
        lambda c: (
            _ref_bilinear(c.img, c.shape)
            if c.order == 1
            else _ref_resize(c)
        ),
        True,
    ),
}


def test_every_float_operation_is_tried_with_non_finite_values() -> None:
    float_ops = {name for name, op in OPS.items() if np.float32 in op.dtypes}
    assert float_ops == set(NONFINITE)


@st.composite
def nonfinite_cases(draw: st.DrawFn, name: str) -> Case:
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    channels = draw(st.sampled_from([3] if name == "rgb2gray" else [None, None, 3]))
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 7)))
    if channels:
        shape += (channels,)
    big = 1e30 if name in _SUMS and dtype == np.float64 else _BIG[dtype]
    img = draw(hnp.arrays(dtype, shape, elements=_huge_elements(dtype, big, NONFINITE[name][2])))
    return Case(
        img=img,
        mode=draw(st.sampled_from(MODES)),
        cval=draw(st.floats(-1.0, 1.0, width=32)),
        size=draw(st.integers(1, 6)),
        shape=(draw(st.integers(1, 9)), draw(st.integers(1, 9))),
        order=draw(st.sampled_from([0, 1])),
    )


@pytest.mark.parametrize("name", sorted(NONFINITE))
@settings(deadline=None, max_examples=40)
@given(data=st.data(), workers=st.integers(1, 2))
def test_non_finite_and_huge_values_give_the_references_inf_and_nan(
    name: str, data: st.DataObject, workers: int
) -> None:
    case = data.draw(nonfinite_cases(name), label="case")
    call, reference, _ = NONFINITE[name]
    got = np.asarray(call(sm.asarray(case.img), case, pool=get_pool(workers)))
    with np.errstate(all="ignore"):
        want = np.asarray(reference(case), np.float64).astype(got.dtype)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    scale = np.finfo(np.float32).eps * 64 * np.maximum(1.0, np.abs(want[finite].astype(np.float64)))
    if name in _SUMS:
        # sums of terms up to ~1e300: a result's error is relative to the largest term
        scale = np.maximum(scale, 1e-6 * _window_max(case.img))
    diff = np.abs(got[finite].astype(np.float64) - want[finite].astype(np.float64))
    assert (diff <= scale).all(), (got, want)


def _window_max(img: np.ndarray) -> float:
    x = np.abs(img.astype(np.float64))
    finite = x[np.isfinite(x)]
    return float(finite.max()) if finite.size else 0.0
