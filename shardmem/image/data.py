"""Sample images, as ``skimage.data`` offers them: ``shardmem.image.data.astronaut()``.

The photograph ships with the package (``shardmem/data/``, public domain;
its README says where it comes from), so examples, notebooks and the demo
run without a download.
"""

from __future__ import annotations

from pathlib import Path

from shardmem._data.array import SharedArray
from shardmem.image._codec import read_image

__all__ = ("ASTRONAUT", "astronaut")

ASTRONAUT = Path(__file__).resolve().parent.parent / "data" / "astronaut.png"


def astronaut() -> SharedArray:
    """Eileen Collins, NASA astronaut: a 512 x 512 RGB uint8 photograph, read fresh each call.

    The same pixels as ``skimage.data.astronaut()``; ``ASTRONAUT`` is its path.

    Examples
    --------
    >>> from shardmem.image import data
    >>> photo = data.astronaut()
    >>> photo.shape, photo.dtype.name
    ((512, 512, 3), 'uint8')
    """
    return read_image(ASTRONAUT)
