"""Tests for the dtype table and parsing (shardmem._data.dtypes)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from strategies import ALL_DTYPES

import shardmem as sm
from shardmem._data.dtypes import as_dtype, check_scalar, dtype_from_format, result_dtype

FORMATS = {
    "bool": "?",
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint8": "B",
    "uint16": "H",
    "uint32": "I",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_table_matches_numpy(dtype: sm.DType) -> None:
    ref = np.dtype(dtype.name)
    assert dtype.format == FORMATS[dtype.name]
    assert dtype.itemsize == ref.itemsize
    assert dtype.kind == ref.kind
    if dtype.kind in "iu":
        assert (dtype.min, dtype.max) == (np.iinfo(ref).min, np.iinfo(ref).max)
    else:
        assert dtype.min is None
        assert dtype.max is None


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_as_dtype_accepts_every_spelling(dtype: sm.DType) -> None:
    assert as_dtype(dtype) is dtype
    assert as_dtype(dtype.name) is dtype
    assert as_dtype(np.dtype(dtype.name)) is dtype
    assert as_dtype(np.dtype(dtype.name).type) is dtype
    assert getattr(sm, "bool_" if dtype.name == "bool" else dtype.name) is dtype


def test_python_types() -> None:
    assert (as_dtype(bool), as_dtype(int), as_dtype(float)) == (sm.bool_, sm.int64, sm.float64)


def test_dtype_is_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        sm.int8.name = "x"  # type: ignore[misc]
    assert {sm.int8: 1}[as_dtype("int8")] == 1
    assert repr(sm.uint8) == "DType('uint8')"
    assert str(sm.uint8) == "uint8"


@pytest.mark.parametrize("bad", ["int128", "float16", np.complex128, complex, None, 3, "i3", "f2"])
def test_unknown_dtype(bad: object) -> None:
    with pytest.raises(sm.DTypeError, match=r"unknown dtype .*; use one of 'bool', 'int8'"):
        as_dtype(bad)


def test_dtype_error_is_type_error() -> None:
    with pytest.raises(TypeError):
        sm.zeros(2, dtype="nope")


@pytest.mark.parametrize(
    ("fmt", "size", "name"),
    [
        ("<l", 8, "int64"),
        ("@i", 4, "int32"),
        ("L", 8, "uint64"),
        ("=f", 4, "float32"),
        ("?", 1, "bool"),
        ("B", 1, "uint8"),
        ("d", 8, "float64"),
    ],
)
def test_dtype_from_format(fmt: str, size: int, name: str) -> None:
    assert dtype_from_format(fmt, size).name == name


@pytest.mark.parametrize("fmt", ["e", "Zd", ">i", "c", "P", "T{i}"])
def test_dtype_from_bad_format(fmt: str) -> None:
    with pytest.raises(sm.DTypeError, match="has no shardmem dtype"):
        dtype_from_format(fmt, 4)


def test_result_dtype() -> None:
    assert result_dtype([True]) is sm.bool_
    assert result_dtype([True, 3]) is sm.int64
    assert result_dtype([1, 2.0]) is sm.float64
    with pytest.raises(sm.DTypeError, match="cannot store 'a' of type str"):
        result_dtype([1, "a"])


def test_check_scalar_rules() -> None:
    assert check_scalar(sm.bool_, np.True_) is True
    assert check_scalar(sm.int8, True) == 1
    assert check_scalar(sm.float32, 3) == 3.0
    assert check_scalar(sm.float32, float("inf")) == float("inf")
    with pytest.raises(sm.DTypeError, match="in a bool array; pass True/False"):
        check_scalar(sm.bool_, 1)
    with pytest.raises(sm.DTypeError, match=r"cannot store 1\.5 of type float in an int8 array"):
        check_scalar(sm.int8, 1.5)
    with pytest.raises(
        sm.ValueOverflowError, match=r"value -1 does not fit uint8 \(range 0\.\.255\)"
    ):
        check_scalar(sm.uint8, -1)
    with pytest.raises(sm.ValueOverflowError, match="too large for float32"):
        check_scalar(sm.float32, 1e39)
    with pytest.raises(sm.ValueOverflowError, match="too large for float64"):
        check_scalar(sm.float64, 10**400)
    with pytest.raises(sm.DTypeError, match="pass a float or int"):
        check_scalar(sm.float64, "1.0")


SPELLINGS = [
    "f8", "f4", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1", "?", "b", "B", "h", "H",
    "i", "I", "l", "L", "q", "Q", "f", "d", "float", "int", "double", "single", "bool_", "byte",
    "ubyte", "short", "ushort", "intc", "uintc", "long", "ulong", "longlong", "ulonglong",
    "intp", "uintp", "=f8", "|u1", "|i1", ">u1", "<u1",
    "<f8" if sys.byteorder == "little" else ">f8",
    np.dtype("<i4" if sys.byteorder == "little" else ">i4"),
    np.intc, np.longlong, np.ulonglong, np.double, np.bool_, bool, int, float,
]  # fmt: skip


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_numpy_spellings_name_the_same_dtype(spelling: object) -> None:
    assert as_dtype(spelling).name == np.dtype(spelling).name  # type: ignore[call-overload]


@pytest.mark.parametrize("foreign", [">f8", ">i4", np.dtype(">u2"), np.dtype(">f4")], ids=repr)
def test_foreign_byte_order_is_refused_clearly(foreign: object) -> None:
    if sys.byteorder != "little":
        foreign = str(foreign).replace(">", "<")
    with pytest.raises(sm.DTypeError, match=r"non-native byte order; .*newbyteorder\('='\)"):
        as_dtype(foreign)
    with pytest.raises(sm.DTypeError, match="non-native byte order"):
        sm.zeros(2).astype(foreign)


# float32's largest value plus half a step: the first float64 that rounds to infinity
_F32_OVERFLOW = 3.4028235677973366e38


@pytest.mark.parametrize(
    "value",
    [
        3.4028235e38,
        np.finfo(np.float32).max.item(),
        math.nextafter(_F32_OVERFLOW, 0),
        _F32_OVERFLOW,
    ],
)
def test_float32_range_is_what_rounds_to_infinity(value: float) -> None:
    with np.errstate(over="ignore"):
        want = np.full(2, value, np.float32)
    for sign in (1, -1):
        if np.isinf(want).any():
            with pytest.raises(sm.ValueOverflowError, match="too large for float32"):
                check_scalar(sm.float32, sign * value)
            with pytest.raises(sm.ValueOverflowError, match="too large for float32"):
                sm.full(2, sign * value, dtype="float32")
            continue
        a = sm.zeros(2, dtype="float32")
        a.fill(sign * value)
        a[0] = sign * value
        assert a.tolist() == (sign * want).tolist()
        assert sm.full(2, sign * value, dtype="float32").tolist() == (sign * want).tolist()
