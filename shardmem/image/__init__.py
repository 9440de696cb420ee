"""Image processing on shared arrays, every operation parallel over row bands.

In the style of scikit-image: one function per operation, the image first
(positional-only), options keyword-only, borders by ``mode=``/``cval=``
(``'reflect'``, ``'mirror'``, ``'nearest'``, ``'wrap'``, ``'constant'``, as in
``scipy.ndimage``; every operation, like ``sm.stencil`` and ``scipy.ndimage``, defaults to
``'reflect'``: pass ``mode='nearest'`` to match ``skimage.filters.gaussian`` and
``median``, whose default it is), results written into ``out=`` when given (the image itself,
or a view overlapping it, gives the out-of-place answer, as scipy's
``output=``), ``pool=`` to pick the pool (default: ``sm.default_pool()``).

Images are ``H x W`` or ``H x W x C`` SharedArrays (anything else goes
through ``sm.asarray`` first) of ``uint8``, ``float32`` or ``float64``.
Like scikit-image, filters that produce non-integer values return
``float32``, and a ``uint8`` input is then scaled to ``[0, 1]`` (divided by
255, as ``skimage.img_as_float``); ``cval`` is in that scale too. Rank
filters (median, erosion, dilation), nearest resize and the uint8 point
operations keep the dtype. Colour images are filtered channel by channel,
along their last axis (``channel_axis=-1``, the default, as in scikit-image;
``channel_axis=None`` says the image is one plane and refuses a 3-D one;
channels on another axis are refused before any work: move them last with
``np.moveaxis``).
Numeric options (``cval``, ``sigma``, ``thresh``, ...) must be real numbers;
filter windows (``size``, the Gaussian kernel) span at most 65,535 pixels,
and a median's at most 255 x 255.
An empty image (a zero height, width or channel count) gives an empty
result, as in scipy.ndimage; only ``resize`` refuses one, having nothing
to interpolate from.

Agreement with scikit-image / scipy.ndimage (float64) on photographs,
checked by ``tests/test_image.py``; the float tolerances come from storing
``float32``:

============================  ==========================================  ==========
operation                     reference                                   tolerance
============================  ==========================================  ==========
invert, threshold             ``skimage.util.invert``, ``image > t``      exact
adjust_gamma (uint8)          ``skimage.exposure.adjust_gamma``           +-1
rescale_intensity (uint8)     ``skimage.exposure.rescale_intensity``      +-1
rgb2gray                      ``skimage.color.rgb2gray``                  1e-6 (uint8 out: +-1)
correlate, convolve           ``scipy.ndimage.correlate / convolve``      1e-5
box_blur                      ``scipy.ndimage.uniform_filter``            1e-5
gaussian                      ``skimage.filters.gaussian``                1e-5
sobel                         ``skimage.filters.sobel``                   1e-5
median                        ``skimage.filters.median``                  exact
erosion, dilation             ``skimage.morphology.erosion / dilation``   exact
histogram                     ``skimage.exposure.histogram``              exact
equalize_hist                 ``skimage.exposure.equalize_hist``          1e-6
resize (bilinear)             ``skimage.transform.resize(order=1)``       1e-5
resize (nearest)              ``skimage.transform.resize(order=0)``       exact
============================  ==========================================  ==========

(``resize`` compared with ``anti_aliasing=False``.)
"""

from __future__ import annotations

# The operations live in one private module per family; this package publishes them
# (shardmem/__init__.py sets their __module__ to "shardmem.image" for help()).
from shardmem.image._codec import read_image, write_image
from shardmem.image._filters import box_blur, convolve, correlate, gaussian, median, sobel
from shardmem.image._geometry import resize
from shardmem.image._histogram import equalize_hist, histogram
from shardmem.image._morphology import dilation, erosion
from shardmem.image._point import (
    adjust_gamma,
    invert,
    rescale_intensity,
    rgb2gray,
    threshold,
    to_uint8,
)
from shardmem.image._runner import _readable as _readable  # the copy-before-write rule, for tests

__all__ = (
    "adjust_gamma",
    "box_blur",
    "convolve",
    "correlate",
    "dilation",
    "equalize_hist",
    "erosion",
    "gaussian",
    "histogram",
    "invert",
    "median",
    "read_image",
    "rescale_intensity",
    "resize",
    "rgb2gray",
    "sobel",
    "threshold",
    "to_uint8",
    "write_image",
)


from shardmem.image import data as data  # the sample images
