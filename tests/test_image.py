"""shardmem.image against scikit-image / scipy.ndimage on photo crops, 1-3 workers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage import color, data, exposure, filters, morphology, transform, util

import shardmem as sm
from shardmem import image
from shardmem.image import _geometry

try:  # the conftest instance pytest loaded, whose leak check knows the session pools
    from conftest import get_pool  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - run as a package
    from tests.conftest import get_pool

CAM = data.camera()[100:228, 200:360]  # 128 x 160 gray
AST = data.astronaut()[200:264, 180:260]  # 64 x 80 RGB
WORKERS = (1, 2, 3)
MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def close(got: sm.SharedArray, want: np.ndarray, tol: float) -> None:
    g = np.asarray(got).astype(np.float64)
    assert g.shape == want.shape
    np.testing.assert_allclose(g, want, rtol=0, atol=tol)


@pytest.mark.parametrize("workers", WORKERS)
def test_gaussian(workers: int) -> None:
    got = image.gaussian(CAM, sigma=1.5, pool=get_pool(workers))
    close(got, filters.gaussian(CAM, sigma=1.5, mode="reflect"), 1e-5)
    got = image.gaussian(CAM, sigma=1.5, mode="nearest", pool=get_pool(workers))
    close(got, filters.gaussian(CAM, sigma=1.5), 1e-5)  # scikit-image's default mode


@pytest.mark.parametrize("mode", MODES)
def test_gaussian_modes_rgb(mode: str) -> None:
    got = image.gaussian(AST, sigma=1.0, mode=mode, cval=0.25, pool=get_pool(2))
    want = filters.gaussian(AST, sigma=1.0, mode=mode, cval=0.25, channel_axis=-1)
    close(got, want, 1e-5)


@pytest.mark.parametrize(("workers", "mode"), [(1, "reflect"), (2, "constant"), (3, "wrap")])
def test_sobel(workers: int, mode: str) -> None:
    got = image.sobel(CAM, mode=mode, pool=get_pool(workers))
    close(got, filters.sobel(CAM, mode=mode), 1e-5)


@pytest.mark.parametrize(("workers", "size"), [(1, 3), (2, 3), (3, 5), (2, 4)])
def test_box_blur(workers: int, size: int) -> None:
    got = image.box_blur(CAM, size=size, pool=get_pool(workers))
    close(got, ndi.uniform_filter(util.img_as_float(CAM), size), 1e-5)


def test_box_blur_rgb_constant() -> None:
    got = image.box_blur(AST, mode="constant", cval=0.5, pool=get_pool(2))
    want = ndi.uniform_filter(util.img_as_float(AST), (3, 3, 1), mode="constant", cval=0.5)
    close(got, want, 1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_correlate_convolve(mode: str) -> None:
    w = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    f = util.img_as_float(CAM)
    close(
        image.correlate(CAM, w.tolist(), mode=mode, pool=get_pool(2)),
        ndi.correlate(f, w, mode=mode),
        1e-5,
    )
    w3 = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.0, 0.0]])
    close(
        image.convolve(CAM, w3.tolist(), mode=mode, pool=get_pool(3)),
        ndi.convolve(f, w3, mode=mode),
        1e-5,
    )


@pytest.mark.parametrize(
    ("workers", "size", "mode"), [(1, 3, "nearest"), (2, 3, "reflect"), (3, 5, "mirror")]
)
def test_median(workers: int, size: int, mode: str) -> None:
    got = image.median(CAM, size=size, mode=mode, pool=get_pool(workers))
    want = filters.median(CAM, np.ones((size, size), bool), mode=mode)
    assert np.array_equal(np.asarray(got), want)


def test_median_float_rgb() -> None:
    f = util.img_as_float32(AST)
    got = image.median(f, pool=get_pool(2))
    assert np.array_equal(np.asarray(got), ndi.median_filter(f, size=(3, 3, 1)))


@pytest.mark.parametrize(("workers", "size"), [(1, 3), (2, 5), (3, 1)])
def test_erosion_dilation(workers: int, size: int) -> None:
    fp = np.ones((size, size), bool)
    pool = get_pool(workers)
    assert np.array_equal(
        np.asarray(image.erosion(CAM, size=size, pool=pool)), morphology.erosion(CAM, fp)
    )
    assert np.array_equal(
        np.asarray(image.dilation(CAM, size=size, pool=pool)), morphology.dilation(CAM, fp)
    )


@pytest.mark.parametrize("workers", WORKERS)
def test_rgb2gray(workers: int) -> None:
    got = image.rgb2gray(AST, pool=get_pool(workers))
    close(got, color.rgb2gray(AST), 1e-6)
    got8 = image.rgb2gray(AST, dtype="uint8", pool=get_pool(workers))
    close(got8, util.img_as_ubyte(color.rgb2gray(AST)).astype(float), 1)


@pytest.mark.parametrize("workers", WORKERS)
def test_histogram_equalize(workers: int) -> None:
    counts, centers = image.histogram(CAM, pool=get_pool(workers))
    want_counts, want_centers = exposure.histogram(CAM)
    assert counts == want_counts.tolist()
    assert centers == want_centers.tolist()
    close(image.equalize_hist(CAM, pool=get_pool(workers)), exposure.equalize_hist(CAM), 1e-6)


@pytest.mark.parametrize(("shape", "workers"), [((300, 211), 2), ((50, 77), 3), ((128, 160), 1)])
def test_resize(shape: tuple[int, int], workers: int) -> None:
    pool = get_pool(workers)
    want = transform.resize(CAM, shape, order=1, anti_aliasing=False)
    close(image.resize(CAM, shape, pool=pool), want, 1e-5)
    want0 = transform.resize(AST, shape, order=0, anti_aliasing=False, preserve_range=True)
    assert np.array_equal(np.asarray(image.resize(AST, shape, order=0, pool=pool)), want0)


def test_point_ops_match_skimage() -> None:
    pool = get_pool(2)
    assert np.array_equal(np.asarray(image.invert(CAM, pool=pool)), util.invert(CAM))
    close(
        image.adjust_gamma(CAM, gamma=0.6, pool=pool),
        exposure.adjust_gamma(CAM, 0.6).astype(float),
        1,
    )
    close(
        image.rescale_intensity(CAM, in_range=(30, 200), pool=pool),
        exposure.rescale_intensity(CAM, in_range=(30, 200)).astype(float),
        1,
    )
    assert np.array_equal(
        np.asarray(image.threshold(CAM, thresh=100 / 255, pool=pool)), (CAM > 100) * 255
    )
    f = util.img_as_float32(CAM)
    close(image.invert(f, pool=pool), util.invert(f), 1e-6)
    close(image.adjust_gamma(f, gamma=2.0, pool=pool), f.astype(float) ** 2, 1e-6)
    close(image.rescale_intensity(f, pool=pool), exposure.rescale_intensity(f.astype(float)), 1e-6)
    assert np.array_equal(np.asarray(image.to_uint8(f, pool=pool)), CAM)


images = arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)))


@settings(deadline=None, max_examples=25)
@given(images, st.integers(1, 3), st.floats(0.1, 4.0), st.integers(0, 255))
def test_lut_ops_hypothesis(img: np.ndarray, workers: int, gamma: float, t: int) -> None:
    pool = get_pool(workers)
    assert np.array_equal(np.asarray(image.invert(img, pool=pool)), 255 - img)
    g = np.minimum(np.rint(255 * (np.arange(256) / 255) ** gamma), 255).astype(np.uint8)
    assert np.array_equal(np.asarray(image.adjust_gamma(img, gamma=gamma, pool=pool)), g[img])
    got = image.threshold(img, thresh=t / 255, pool=pool)  # uint8 in the filters' [0, 1] scale
    assert np.array_equal(np.asarray(got), (img > t) * 255)


@settings(deadline=None, max_examples=25)
@given(images, st.integers(1, 3), st.integers(1, 20), st.integers(1, 20), st.sampled_from([0, 1]))
def test_resize_hypothesis(img: np.ndarray, workers: int, oh: int, ow: int, order: int) -> None:
    got = image.resize(img, (oh, ow), order=order, pool=get_pool(workers))
    want = transform.resize(
        img, (oh, ow), order=order, anti_aliasing=False, preserve_range=order == 0
    )
    tol = 0 if order == 0 else 1e-5
    close(got, want, tol)


@settings(deadline=None, max_examples=20)
@given(images, st.integers(1, 3), st.sampled_from(MODES))
def test_filters_hypothesis(img: np.ndarray, workers: int, mode: str) -> None:
    pool = get_pool(workers)
    assert np.array_equal(
        np.asarray(image.median(img, mode=mode, pool=pool)),
        ndi.median_filter(img, size=3, mode=mode),
    )
    close(image.sobel(img, mode=mode, pool=pool), filters.sobel(img, mode=mode), 1e-5)


def test_out_is_used() -> None:
    out = sm.zeros(CAM.shape, dtype="float32")
    assert image.sobel(CAM, out=out, pool=get_pool(2)) is out


def test_errors() -> None:
    with pytest.raises(sm.InvalidArgumentError, match="mode='bogus'"):
        image.gaussian(CAM, mode="bogus")
    with pytest.raises(sm.InvalidArgumentError, match="size=4 must be an odd int"):
        image.median(CAM, size=4)
    with pytest.raises(sm.ShapeError, match="H x W x 3"):
        image.rgb2gray(CAM)
    with pytest.raises(sm.DTypeError, match="int64 is not supported"):
        image.sobel(np.zeros((3, 3), np.int64))
    with pytest.raises(sm.ShapeError, match=r"out= is \(2, 2\) float32; it must .* shape \(128"):
        image.sobel(CAM, out=sm.zeros((2, 2), dtype="float32"))
    with pytest.raises(sm.DTypeError, match=r"out= is \(128, 160\) uint8; .* dtype float32"):
        image.sobel(CAM, out=sm.zeros(CAM.shape, dtype="uint8"))
    with pytest.raises(sm.ArgumentTypeError, match=r"out= is ndarray; it must be a SharedArray"):
        image.sobel(CAM, out=np.zeros(CAM.shape, np.float32))  # type: ignore[arg-type]
    with pytest.raises(sm.ShapeError, match="output_shape"):
        image.resize(CAM, (0, 3))


# -- windows far wider than the image ------------------------------------------------------------

_PAD = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}


def _correlate1d(img: np.ndarray, w: np.ndarray, axis: int, mode: str) -> np.ndarray:
    """Reference for long odd 1-D kernels: np.pad, then a sliding window.

    (scipy.ndimage's 'reflect' drifts once the kernel is many times wider than the image.)
    """
    r = len(w) // 2
    pad = [(0, 0)] * img.ndim
    pad[axis] = (r, r)
    padded = np.pad(img, pad, mode=_PAD.get(mode, "constant"))  # type: ignore[call-overload]
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(w), axis=axis)
    return windows @ w  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
def test_windows_far_wider_than_the_image(mode: str) -> None:
    """Tens of thousands of taps: sums are materialised as they go, not chained to the end."""
    img = np.arange(20, dtype=np.float64).reshape(4, 5) / 20
    pool = get_pool(2)
    w = np.full(70001, 1 / 70001)
    got = image.correlate(img, w[None, :], mode=mode, pool=pool)
    close(got, _correlate1d(img, w, 1, mode), 1e-5)
    box = np.full(65535, 1 / 65535)
    got = image.box_blur(img, size=65535, mode=mode, pool=pool)
    close(got, _correlate1d(_correlate1d(img, box, 0, mode), box, 1, mode), 1e-5)


def test_tall_kernels_and_the_widest_gaussian() -> None:
    img = np.arange(20, dtype=np.float64).reshape(4, 5) / 20
    pool = get_pool(2)
    w = np.full(70001, 1 / 70001)
    close(image.correlate(img, w[:, None], pool=pool), _correlate1d(img, w, 0, "reflect"), 1e-5)
    x = np.arange(-32767, 32768) / 8191.75  # truncate * sigma + 0.5 = 32767.5: radius 32767
    g = np.exp(-0.5 * x * x)
    g /= g.sum()
    got = image.gaussian(img, sigma=8191.75, pool=pool)
    close(got, _correlate1d(_correlate1d(img, g, 0, "reflect"), g, 1, "reflect"), 1e-5)


# -- bad numeric options, weights and empty images ----------------------------------------------

IMG8 = np.arange(48, dtype=np.uint8).reshape(6, 8)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: image.box_blur(IMG8, cval=None), sm.ArgumentTypeError,
         r"box_blur\(\): cval=None must be a real number \(int or float\), not NoneType"),
        (lambda: image.correlate(IMG8, [[1]], cval="0"), sm.ArgumentTypeError,
         r"correlate\(\): cval='0' must be a real number"),
        (lambda: image.median(IMG8, cval=float("nan")), sm.InvalidArgumentError,
         r"median\(\): cval=nan cannot be stored in a uint8 image; pass a value in 0\.\.255"),
        (lambda: image.gaussian(IMG8, sigma=[1, 2]), sm.ArgumentTypeError,
         r"gaussian\(\): sigma=\[1, 2\] must be a real number"),
        (lambda: image.gaussian(IMG8, sigma=float("nan")), sm.InvalidArgumentError,
         r"sigma=nan must be a finite number"),
        (lambda: image.gaussian(IMG8, sigma=float("inf")), sm.InvalidArgumentError,
         r"sigma=inf must be a finite number"),
        (lambda: image.gaussian(IMG8, truncate=None), sm.ArgumentTypeError,
         r"truncate=None must be a real number"),
        (lambda: image.gaussian(IMG8, truncate=-1), sm.InvalidArgumentError,
         r"truncate=-1\.0 must be >= 0"),
        (lambda: image.gaussian(IMG8, sigma=2**70), sm.InvalidArgumentError,
         r"needs a kernel of radius 4\.72237e\+21, over 32767 \(a window of 65535 pixels\); "
         r"use a smaller sigma"),
        (lambda: image.threshold(IMG8, thresh=np.zeros(3)), sm.ArgumentTypeError,
         r"threshold\(\): thresh=array\(.*\) must be a real number .*not ndarray"),
        (lambda: image.threshold(IMG8, thresh=3 + 4j), sm.ArgumentTypeError,
         r"thresh=\(3\+4j\) must be a real number"),
        (lambda: image.adjust_gamma(IMG8, gamma="2"), sm.ArgumentTypeError,
         r"adjust_gamma\(\): gamma='2' must be a real number"),
        (lambda: image.adjust_gamma(IMG8, gain=float("inf")), sm.InvalidArgumentError,
         r"gain=inf must be a finite number"),
        (lambda: image.rescale_intensity(IMG8, in_range=(0, "x")), sm.ArgumentTypeError,
         r"in_range\[1\]='x' must be a real number"),
        (lambda: image.rescale_intensity(IMG8, in_range=(5,)), sm.ArgumentTypeError,
         r"in_range=\(5,\) must be a pair \(lo, hi\) of numbers or None"),
        (lambda: image.box_blur(IMG8, mode=np.zeros(3)), sm.InvalidArgumentError,
         r"box_blur\(\): mode=array\(.*\) is not a border mode; use one of 'reflect'"),
        (lambda: image.box_blur(IMG8, size=2**70), sm.InvalidArgumentError,
         r"size=1180591620717411303424 is larger than the largest window, 65535 pixels"),
        (lambda: image.erosion(IMG8, size=65537), sm.InvalidArgumentError,
         r"erosion\(\): size=65537 is larger than the largest window, 65535 pixels"),
        (lambda: image.median(IMG8, size=257), sm.InvalidArgumentError,
         r"median\(\): size=257 is larger than the largest window, 255 pixels"),
    ],
)  # fmt: skip
def test_bad_numeric_options(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_numeric_options_take_numpy_scalars_nan_and_inf() -> None:
    pool = get_pool(2)
    f = util.img_as_float32(IMG8)
    want = ndi.uniform_filter(f, 3, mode="constant", cval=0.25)
    close(image.box_blur(IMG8, mode="constant", cval=np.float32(0.25), pool=pool), want, 1e-6)
    assert np.all(np.asarray(image.threshold(IMG8, thresh=float("nan"), pool=pool)) == 0)
    assert np.array_equal(
        np.asarray(image.threshold(IMG8, thresh=np.float64(20 / 255), pool=pool)),
        (IMG8 > 20) * 255,
    )
    edge = image.dilation(IMG8, mode="constant", cval=float("inf"), pool=pool)  # clipped to 255
    assert np.array_equal(np.asarray(edge), ndi.grey_dilation(IMG8, 3, mode="constant", cval=255))
    assert image.adjust_gamma(IMG8, gain=-1.0, pool=pool).tolist() == np.zeros_like(IMG8).tolist()


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        (None, sm.ArgumentTypeError, r"weights=None must be a 2-D array or nested list of numbers"),
        (1.5, sm.ArgumentTypeError, "weights=1.5 must be a 2-D array"),
        ("x", sm.ArgumentTypeError, "weights='x' must be a 2-D array"),
        (b"ab", sm.ArgumentTypeError, "weights=b'ab' must be a 2-D array"),
        ({"a": 1}, sm.ArgumentTypeError, "must be a 2-D array"),
        (np.array(3.0), sm.ArgumentTypeError, "must be a 2-D array"),
        ((1, 2, 3), sm.ShapeError, "weights must be a non-empty rectangular 2-D sequence"),
        ([], sm.ShapeError, "non-empty rectangular 2-D"),
        ([[]], sm.ShapeError, "non-empty rectangular 2-D"),
        ([[1, 2], [3]], sm.ShapeError, "non-empty rectangular 2-D"),
        (np.zeros(3), sm.ShapeError, "non-empty rectangular 2-D"),
        (np.zeros((2, 3, 4)), sm.ShapeError, "non-empty rectangular 2-D"),
        ([[1, "x"]], sm.ArgumentTypeError, r"weights\[0\]\[1\]='x' must be a real number"),
        ([[1, None]], sm.ArgumentTypeError, r"weights\[0\]\[1\]=None must be a real number"),
        (np.ones((2, 2), np.complex128), sm.ArgumentTypeError,
         r"weights\[0\]\[0\]=\(1\+0j\) must be a real number \(int or float\), not complex"),
    ],
)  # fmt: skip
def test_bad_weights(weights: object, error: type[Exception], match: str) -> None:
    for fn in (image.correlate, image.convolve):
        with pytest.raises(error, match=match):
            fn(IMG8, weights)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "weights",
    [
        np.array([[1, -2, 0], [0, 3, 1]]),
        sm.asarray([[0.5, 1.0], [2.0, -1.0]]),
        [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        [[np.float32(1.0), np.int8(2)], [True, 0]],
        np.ones((1, 4), np.float16),
    ],
)
def test_weights_as_arrays_and_numpy_scalars(weights: Any) -> None:
    w = np.array(np.asarray(weights).tolist(), dtype=np.float64)
    f = util.img_as_float(IMG8)
    pool = get_pool(2)
    close(image.correlate(IMG8, weights, pool=pool), ndi.correlate(f, w), 1e-5)
    close(image.convolve(IMG8, weights, pool=pool), ndi.convolve(f, w), 1e-5)


EMPTY_SHAPES = [(2, 0), (0, 3), (2, 0, 3), (2, 2, 0)]


def _size(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (3, 3, 1)[: len(shape)]


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_empty_images_give_empty_results_as_scipy(shape: tuple[int, ...], dtype: type) -> None:
    x = np.zeros(shape, dtype)
    f = x.astype(np.float32)
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    wn = w.reshape(2, 2, *([1] * (len(shape) - 2)))
    pool = get_pool(2)
    pairs = [
        (image.box_blur(x, pool=pool), ndi.uniform_filter(f, _size(shape))),
        (image.correlate(x, w, pool=pool), ndi.correlate(f, wn)),
        (image.convolve(x, w, pool=pool), ndi.convolve(f, wn)),
        (image.gaussian(x, pool=pool), ndi.gaussian_filter(f, (1, 1, 0)[: len(shape)])),
        (image.sobel(x, pool=pool), ndi.sobel(f)),
        (image.median(x, pool=pool), ndi.median_filter(x, _size(shape))),
        (image.erosion(x, pool=pool), ndi.grey_erosion(x, _size(shape))),
        (image.dilation(x, pool=pool), ndi.grey_dilation(x, _size(shape))),
        (image.rescale_intensity(x, pool=pool), x),  # skimage raises: no min or max
        (image.invert(x, pool=pool), x),
    ]
    if dtype is np.uint8:
        pairs.append((image.equalize_hist(x, pool=pool), f))
    for got, want in pairs:
        g = np.asarray(got)
        assert g.shape == want.shape == shape
        assert g.dtype == want.dtype
        assert np.array_equal(g, want)


def test_resize_of_an_image_without_pixels_is_refused() -> None:
    with pytest.raises(sm.ShapeError, match=r"resize\(\): image has shape \(2, 0\), no pixels"):
        image.resize(np.zeros((2, 0), np.uint8), (3, 4))
    with pytest.raises(sm.ShapeError, match=r"image has shape \(0, 3, 3\), no pixels"):
        image.resize(np.zeros((0, 3, 3), np.float32), (3, 4))
    got = image.resize(np.zeros((2, 2, 0), np.float32), (3, 4), pool=get_pool(2))  # no channels
    assert got.shape == (3, 4, 0)


def test_histogram_of_an_empty_image() -> None:
    x = np.zeros((2, 0), np.uint8)
    assert image.histogram(x, pool=get_pool(2)) == ([0], [0])
    counts, centers = image.histogram(x, source_range="dtype", pool=get_pool(2))
    assert counts == [0] * 256
    assert centers == list(range(256))


@pytest.mark.parametrize(
    "op",
    [
        lambda img, **kw: image.gaussian(img, sigma=1.0, **kw),
        image.sobel,
        image.invert,
        lambda img, **kw: image.resize(img, (5, 6), **kw),
    ],
)
def test_channel_axis_last_is_the_default_and_others_are_refused(op: Any) -> None:
    pool = get_pool(2)
    rgb = np.random.default_rng(1).random((8, 9, 3)).astype(np.float32)
    default = np.asarray(op(rgb, pool=pool))
    np.testing.assert_array_equal(np.asarray(op(rgb, channel_axis=-1, pool=pool)), default)
    np.testing.assert_array_equal(np.asarray(op(rgb, channel_axis=np.int64(2), pool=pool)), default)
    with pytest.raises(sm.InvalidArgumentError, match=r"channels must be the last axis"):
        op(np.moveaxis(rgb, -1, 0), channel_axis=0, pool=pool)
    with pytest.raises(sm.ShapeError, match="says the image is one plane"):
        op(rgb, channel_axis=None, pool=pool)
    with pytest.raises(sm.ArgumentTypeError, match="must be an int"):
        op(rgb, channel_axis="last", pool=pool)
    grey = rgb[..., 0]
    np.testing.assert_array_equal(
        np.asarray(op(grey, channel_axis=None, pool=pool)), np.asarray(op(grey, pool=pool))
    )


def test_resize_to_an_impossible_size_names_the_shape_and_bytes() -> None:
    x = np.zeros((2, 2), np.uint8)
    with pytest.raises(
        sm.OutOfMemoryError, match=r"3\.64 TiB .* shape \(1000000, 1000000\) .* float32"
    ):
        image.resize(x, (10**6, 10**6), pool=get_pool(2))
    with pytest.raises(sm.OutOfMemoryError, match=r"931\.32 GiB .* shape \(1000000, 1000000\)"):
        image.resize(x, (10**6, 10**6), order=0, pool=get_pool(2))


def test_resize_tables_that_do_not_fit_name_the_shape_and_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An output that fits whose per-row and per-column tables do not: not a bare MemoryError."""

    def no_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(_geometry, "_axis", no_memory)
    with pytest.raises(
        sm.OutOfMemoryError,
        match=r"output_shape=\(3, 4\) needs tables of 3 rows and 4 columns, about 168 bytes",
    ):
        image.resize(np.zeros((2, 2, 3), np.uint8), (3, 4), pool=get_pool(2))


def test_resize_output_shape_of_the_wrong_type_or_length() -> None:
    x = np.zeros((2, 2), np.uint8)
    for bad in ("big", [2.0, 3], (True, 2), None):
        with pytest.raises(sm.ArgumentTypeError, match=r"output_shape=.* must be \(rows, cols\)"):
            image.resize(x, bad)  # type: ignore[arg-type]
    for bad in ((3,), (), (0, 3), (2, 3, 4)):
        with pytest.raises(sm.ShapeError, match=r"output_shape=.* must be \(rows, cols\)"):
            image.resize(x, bad)  # type: ignore[arg-type]
    assert image.resize(x, (np.int64(3), 4), pool=get_pool(2)).shape == (3, 4)


def test_the_benchmark_table_covers_every_operation_and_checks_it_against_its_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """benchmarks/bench_image.py times every operation, each checked against its reference."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_image  # type: ignore[import-not-found]
    from bench_harness import Context  # type: ignore[import-not-found]

    names = {name.split()[0] for name in bench_image.OPERATIONS}
    assert names == set(image.__all__) - {"read_image", "write_image"}
    ctx = Context(quick=True, reps=1)
    ctx._cache.update({("sm", 1): get_pool(1), ("sm", 2): get_pool(2)})  # the shared pools
    for op in bench_image._ops():
        best, ok = bench_image._measure(op, 24, 1, ctx)
        assert ok, op.name
        assert 0 <= best.pop(bench_image.CORES) <= 3  # two workers and the main thread
        assert len(best) == 3
        assert all(t > 0 for t in best.values())
    ctx.close()


# -- overflow, inf and NaN: the reference's answer, never a builtin error ------------------------


@settings(deadline=None, max_examples=60)
@given(
    gain=st.one_of(st.floats(-10.0, 10.0), st.floats(1e300, 1.7e308), st.floats(-1.7e308, -1e300)),
    gamma=st.one_of(st.floats(0.0, 5.0), st.sampled_from([0.0, 1e-300, 2000.0])),
)
def test_adjust_gamma_uint8_with_any_finite_gain_is_scikit_images_table(
    gain: float, gamma: float
) -> None:
    """Formerly ValueError (round of NaN: 255 * gain overflowed to inf, times 0**gamma = 0)."""
    x = np.arange(256, dtype=np.uint8)[None, :]
    got = np.asarray(image.adjust_gamma(x, gamma=gamma, gain=gain, pool=get_pool(2)))
    with np.errstate(over="ignore", invalid="ignore"):
        power = (np.arange(256) / 255) ** gamma
        lut = np.where(power == 0, 0.0, 255 * gain * power)
    want = np.clip(np.rint(lut), 0, 255)
    np.testing.assert_array_equal(got[0], want)
    if abs(gain) < 1e300 and gain >= 0:  # where scikit-image's own table has no NaN
        np.testing.assert_array_equal(got, exposure.adjust_gamma(x, gamma, gain))


@settings(deadline=None, max_examples=40)
@given(
    img=arrays(
        np.float64,
        (2, 5),
        elements=st.one_of(
            st.floats(0.0, 4.0), st.sampled_from([1e300, 1.7e308, np.inf, np.nan, -1.0])
        ),
    ),
    gamma=st.sampled_from([0.0, 0.5, 2.0, 2000.0]),
    gain=st.sampled_from([0.0, 1.0, 1e300]),
)
def test_adjust_gamma_float_overflows_to_inf_as_numpy(
    img: np.ndarray, gamma: float, gain: float
) -> None:
    """Formerly OverflowError from pow (2.0 ** 2000) in a worker."""
    got = np.asarray(image.adjust_gamma(img, gamma=gamma, gain=gain, pool=get_pool(2)))
    with np.errstate(over="ignore", invalid="ignore"):
        want = gain * np.maximum(img, 0) ** gamma
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))  # overflows where NumPy does
    np.testing.assert_allclose(got, want, rtol=4e-16)  # pow and ** may differ in the last bit


def test_sums_near_float_max_overflow_as_scipys() -> None:
    """math.fma raised OverflowError / ValueError here; scipy gives inf and NaN."""
    big = np.array([[1e308, 1e308, 0.0]] * 3)
    got = np.asarray(image.correlate(big, [[10.0]], pool=get_pool(2)))
    np.testing.assert_array_equal(got, ndi.correlate(big, [[10.0]]).astype(np.float32))
    got = np.asarray(image.correlate(np.zeros((3, 3)), [[np.inf, 1.0]], pool=get_pool(2)))
    assert np.isnan(got).all()
    assert np.isnan(ndi.correlate(np.zeros((3, 3)), [[np.inf, 1.0]])).all()
    pm = np.array([[0.0, np.inf, -np.inf, 0.0]] * 3)
    got = np.asarray(image.gaussian(pm, pool=get_pool(2)))
    want = ndi.gaussian_filter(pm, 1.0, truncate=4.0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    # a Gaussian's mirrored taps are added before weighting: 1.7e308 + 1.7e308 overflows, the
    # weighted terms do not; the row is recomputed tap by tap, as scipy sums it
    near = np.zeros((3, 9))
    near[:, 2] = near[:, 6] = 1.7e308
    near[:, 4] = -1.7e308
    got = np.asarray(image.gaussian(near, sigma=2.0, pool=get_pool(2)), np.float64)
    radius = np.arange(-8, 9)
    taps = np.exp(-0.5 * (radius / 2.0) ** 2)
    taps /= taps.sum()
    # (scipy's gaussian_filter pairs the taps too, and gives NaN here: the 2-D kernel does not)
    want = ndi.correlate(near, np.outer(taps, taps), mode="nearest")
    assert np.isfinite(want).all()
    with np.errstate(over="ignore"):  # float32 results: beyond 3.4e38, inf of the right sign
        np.testing.assert_array_equal(got, want.astype(np.float32))
    rgb = np.array([[[np.inf, -np.inf, 0.0], [np.inf, 0.0, 1.0], [1e308, 1e308, 1e308]]])
    got = np.asarray(image.rgb2gray(rgb, pool=get_pool(2)))
    np.testing.assert_array_equal(np.isnan(got), [[True, False, False]])
    assert got[0, 1] == np.inf
    assert got[0, 2] == np.inf  # 1e308 in float32


@settings(deadline=None, max_examples=60)
@given(
    value=st.sampled_from([np.nan, np.inf, -np.inf, 1e20, -1e20, 1e300]),
    where=st.tuples(st.integers(0, 8), st.integers(0, 10)),
    size=st.integers(1, 7),
    mode=st.sampled_from(["reflect", "constant", "nearest", "wrap", "mirror"]),
    channels=st.sampled_from([None, 3]),
)
def test_box_blur_changes_only_the_windows_holding_a_huge_or_non_finite_pixel(
    value: float, where: tuple[int, int], size: int, mode: str, channels: int | None
) -> None:
    """Formerly the row's prefix sums (and, for size > 3, the running column sum) carried
    the value into every pixel after it: 0 (1 - 1e20 + 1e20) or NaN (inf - inf)."""
    img = np.ones((9, 11))
    img[where] = value
    if channels:
        img = np.repeat(img[..., None], channels, axis=2)
    got = np.asarray(image.box_blur(img, size=size, mode=mode, pool=get_pool(2)), np.float64)
    weights = np.full((size, size) + ((1,) if channels else ()), 1.0 / size**2)
    want = ndi.correlate(img, weights, mode=mode)  # each window summed directly
    with np.errstate(over="ignore"):
        want = want.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_rescale_ignores_infinities_and_spans_the_whole_float_range() -> None:
    """Formerly one -inf pixel made every pixel NaN, and +-1.7e308 overflowed the span."""
    img = np.array([[-np.inf, 0.0, 2.0, 4.0, np.inf, np.nan]])
    got = np.asarray(image.rescale_intensity(img, pool=get_pool(2)))
    np.testing.assert_array_equal(got, [[0.0, 0.0, 0.5, 1.0, 1.0, np.nan]])
    wide = np.array([[-1.7e308, 0.0, 1.7e308]])
    got = np.asarray(image.rescale_intensity(wide, pool=get_pool(2)))
    np.testing.assert_array_equal(got, [[0.0, 0.5, 1.0]])
    assert np.asarray(image.rescale_intensity(np.full((2, 2), np.inf))).tolist() == [[1.0] * 2] * 2


def test_resize_tables_are_one_compact_entry_per_output_row_and_column() -> None:
    """Formerly tuples of Python tuples per output element: (1, 10**6) took 288 MiB, 36 s."""
    import tracemalloc

    for order in (0, 1):
        ys, xs = _geometry._axis(1, 5, order), _geometry._axis(3, 10**6, order)
        assert [t.itemsize for t in ys] == [8, 8, 8]
        assert len(xs[0]) == 10**6
    tracemalloc.start()
    try:
        out = image.resize(np.full((1, 1), 7, np.uint8), (1, 10**6), order=0, pool=get_pool(1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.asarray(out).min() == np.asarray(out).max() == 7
    assert peak < 96 * 2**20  # the output is 1 MiB, its tables 8 MiB (formerly over 280 MiB)


def test_every_border_mode_defaults_to_reflect() -> None:
    """One default everywhere: sm.stencil, shardmem.dask and every image operation with mode=."""
    import inspect

    defaults = {}
    for name in image.__all__:
        fn = getattr(image, name)
        if callable(fn) and "mode" in inspect.signature(fn).parameters:
            defaults[name] = inspect.signature(fn).parameters["mode"].default
    defaults["sm.stencil"] = inspect.signature(sm.stencil).parameters["mode"].default
    assert len(defaults) >= 9
    assert set(defaults.values()) == {"reflect"}, defaults
