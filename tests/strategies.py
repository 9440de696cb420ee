"""Reusable hypothesis strategies for shardmem tests: dtypes, shapes, values, arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shardmem as sm

__all__ = (
    "ALL_DTYPES",
    "arrays",
    "basic_indices",
    "dtypes",
    "nested",
    "numpy_arrays",
    "scalars",
    "shapes",
)

ALL_DTYPES: tuple[sm.DType, ...] = (
    sm.bool_,
    sm.int8,
    sm.int16,
    sm.int32,
    sm.int64,
    sm.uint8,
    sm.uint16,
    sm.uint32,
    sm.uint64,
    sm.float32,
    sm.float64,
)


def dtypes() -> st.SearchStrategy[sm.DType]:
    """Any shardmem dtype."""
    return st.sampled_from(ALL_DTYPES)


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, max_side: int = 5
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes including empty axes, 1-element and odd lengths."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


def scalars(dtype: sm.DType) -> st.SearchStrategy[Any]:
    """Python scalars that fit ``dtype`` exactly (no NaN, so equality works)."""
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        return st.integers(dtype.min, dtype.max)
    return st.floats(width=8 * dtype.itemsize, allow_nan=False)


def numpy_arrays(dtype: sm.DType, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """NumPy arrays of ``dtype`` and ``shape`` (no NaN)."""
    elements = {"allow_nan": False} if dtype.kind == "f" else None
    return hnp.arrays(np.dtype(dtype.name), shape, elements=elements)


def arrays(
    dtype: st.SearchStrategy[sm.DType] | None = None,
    shape: st.SearchStrategy[tuple[int, ...]] | None = None,
) -> st.SearchStrategy[tuple[sm.SharedArray, Any]]:
    """Pairs ``(shared, reference)``: a SharedArray and an equal NumPy copy."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[sm.SharedArray, Any]:
        kind = draw(dtypes() if dtype is None else dtype)
        ref = draw(numpy_arrays(kind, draw(shapes() if shape is None else shape)))
        return sm.asarray(ref), ref

    return build()


def basic_indices(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Ints, slices (any steps, negatives) and Ellipsis valid for ``shape``."""
    return hnp.basic_indices(shape, allow_newaxis=False, allow_ellipsis=True)


def nested(flat: list[Any], shape: tuple[int, ...]) -> Any:
    """Build nested lists of ``shape`` from a flat list (a scalar for shape ())."""
    if not shape:
        return flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return [nested(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
