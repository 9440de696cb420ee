"""The dtype table: eleven fixed-size dtypes, their parsing and value checks."""

from __future__ import annotations

import array
import math
import numbers
import operator
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from shardmem._errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ValueOverflowError

__all__ = (
    "CASTINGS",
    "DTYPES",
    "Casting",
    "DType",
    "Format",
    "as_dtype",
    "as_float",
    "as_index",
    "bool_",
    "can_cast",
    "cast_values",
    "check_real",
    "check_scalar",
    "dtype_from_format",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "result_dtype",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)

# float32's largest value plus half its last step: larger magnitudes round to infinity
# (round-to-nearest-even; FLT_MAX's last bit is odd, so the tie itself rounds up too)
_FLOAT32_OVERFLOW = 3.4028235677973366e38
_FORMAT_CODES = ("?", "b", "h", "i", "q", "B", "H", "I", "Q", "f", "d")
type Format = Literal["?", "b", "h", "i", "q", "B", "H", "I", "Q", "f", "d"]


@dataclass(frozen=True, slots=True)
class DType:
    """An element type: name, ``memoryview`` format code and size.

    Instances are the module constants (``sm.int8`` ... ``sm.float64``);
    compare them with ``==`` or ``is``.

    Attributes
    ----------
    name : str
        NumPy / Array API name, e.g. ``'uint8'``.
    format : str
        The ``memoryview`` / ``struct`` format code, e.g. ``'B'``.
    itemsize : int
        Bytes per element.
    kind : str
        ``'b'`` (bool), ``'i'`` (signed), ``'u'`` (unsigned) or ``'f'`` (float).
    min, max : int or None
        Range of integer dtypes; ``None`` for bool and floats.

    Examples
    --------
    >>> import shardmem as sm
    >>> sm.uint8.name, sm.uint8.format, sm.uint8.itemsize, sm.uint8.max
    ('uint8', 'B', 1, 255)
    >>> sm.float32
    DType('float32')
    """

    name: str
    format: Format
    itemsize: int = field(init=False)
    kind: str = field(init=False)
    min: int | None = field(init=False)
    max: int | None = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.format, str) or self.format not in _FORMAT_CODES:
            raise DTypeError(
                f"DType({self.name!r}, {self.format!r}): the format is not one of shardmem's "
                f"eleven ({', '.join(_FORMAT_CODES)}); use a dtype constant such as sm.float64 "
                "or a name such as 'uint8' wherever a dtype is asked for"
            )
        size = struct.calcsize(self.format)
        kind = {"?": "b", "f": "f", "d": "f"}.get(self.format)
        kind = kind or ("i" if self.format.islower() else "u")
        low = high = None
        if kind == "i":
            low, high = -(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1
        elif kind == "u":
            low, high = 0, (1 << (8 * size)) - 1
        for name, value in (("itemsize", size), ("kind", kind), ("min", low), ("max", high)):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"DType({self.name!r})"

    def __str__(self) -> str:
        return self.name


bool_ = DType("bool", "?")
int8 = DType("int8", "b")
int16 = DType("int16", "h")
int32 = DType("int32", "i")
int64 = DType("int64", "q")
uint8 = DType("uint8", "B")
uint16 = DType("uint16", "H")
uint32 = DType("uint32", "I")
uint64 = DType("uint64", "Q")
float32 = DType("float32", "f")
float64 = DType("float64", "d")

DTYPES: tuple[DType, ...] = (
    bool_,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
    uint32,
    uint64,
    float32,
    float64,
)
_BY_NAME = {d.name: d for d in DTYPES}
_BY_KIND_SIZE = {(d.kind, d.itemsize): d for d in DTYPES}
_PYTHON_TYPES: dict[object, DType] = {bool: bool_, int: int64, float: float64}
_NAMES = ", ".join(repr(n) for n in _BY_NAME)


def _numpy_name(value: object) -> str | None:
    """Return the dtype name of a NumPy dtype or scalar type, else None."""
    module = value.__module__ if isinstance(value, type) else type(value).__module__
    if not module.startswith("numpy"):
        return None
    import numpy as np

    try:
        return str(np.dtype(value).name)  # type: ignore[call-overload]
    except TypeError:
        return None


def as_dtype(value: object, /) -> DType:
    """Return the `DType` that ``value`` names.

    Parameters
    ----------
    value : DType, str, NumPy dtype or type, or Python ``bool``/``int``/``float``
        ``bool``, ``int`` and ``float`` mean bool, int64 and float64. Strings
        are read as NumPy reads them: names (``'uint8'``, ``'float'``,
        ``'double'``, ``'bool_'``...), kind and size (``'f8'``, ``'i1'``,
        ``'u4'``) and one-letter codes (``'d'``, ``'B'``), with an optional
        byte order that must be the machine's (``'<i4'`` on little-endian).

    Raises
    ------
    DTypeError
        If ``value`` names no supported dtype, or a byte order that is not native.

    Examples
    --------
    >>> from shardmem._data.dtypes import as_dtype
    >>> as_dtype("uint16"), as_dtype(float), as_dtype("f8"), as_dtype("B")
    (DType('uint16'), DType('float64'), DType('float64'), DType('uint8'))
    """

    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if isinstance(value, type) and value in _PYTHON_TYPES:
        return _PYTHON_TYPES[value]
    if isinstance(value, str):
        found = _parse_spelling(value)
        if found is not None:
            return found
    if getattr(value, "isnative", True) is False:  # a NumPy dtype such as '>f8'
        raise _byte_order_error(value)
    name = _numpy_name(value)
    if name is None:
        name = getattr(value, "name", None)
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    raise DTypeError(f"unknown dtype {value!r}; use one of {_NAMES} (or a DType such as sm.uint8)")


_ALIASES = {
    "float": "float64", "double": "float64", "single": "float32", "int": "int64",
    "bool_": "bool", "bool8": "bool", "byte": "int8", "ubyte": "uint8", "short": "int16",
    "ushort": "uint16", "intc": "int32", "uintc": "uint32", "long": "int64",
    "ulong": "uint64", "longlong": "int64", "ulonglong": "uint64", "int_": "int64",
    "uint": "uint64", "intp": "int64", "uintp": "uint64",
}  # fmt: skip
_KIND_LETTERS = {"b": "b", "i": "i", "u": "u", "f": "f"}
_NATIVE = "<" if sys.byteorder == "little" else ">"


def _byte_order_error(value: object) -> DTypeError:
    return DTypeError(
        f"dtype {value!r} has a non-native byte order; shardmem stores elements in the "
        f"machine's order ({sys.byteorder}-endian): use the dtype without the byte order "
        "(e.g. 'float64'), and convert foreign-order data with x.astype(x.dtype.newbyteorder('='))"
    )


def _parse_spelling(text: str) -> DType | None:
    """The DType of a NumPy string spelling ('f8', '<i4', 'd', 'double'...), or None."""
    order, code = (text[0], text[1:]) if text[:1] in "<>=|" else ("", text)
    if order in "<>" and order and order != _NATIVE:
        found = _parse_spelling(code)
        if found is not None and found.itemsize > 1:
            raise _byte_order_error(text)
        return found
    code = _ALIASES.get(code, code)
    if code in _BY_NAME:
        return _BY_NAME[code]
    if len(code) == 1 and code in "?bhilqBHILQfd":
        return _BY_KIND_SIZE.get((_kind_of_code(code), struct.calcsize(code)))
    if len(code) == 2 and code[0] in _KIND_LETTERS and code[1] in "1248":
        return _BY_KIND_SIZE.get((_KIND_LETTERS[code[0]], int(code[1])))
    return None


def _kind_of_code(code: str) -> str:
    return "b" if code == "?" else "f" if code in "fd" else "i" if code.islower() else "u"


def dtype_from_format(fmt: str, itemsize: int, /) -> DType:
    """Return the `DType` of a ``memoryview`` format such as ``'<l'``.

    Examples
    --------
    >>> from shardmem._data.dtypes import dtype_from_format
    >>> dtype_from_format("<l", 8), dtype_from_format("B", 1)
    (DType('int64'), DType('uint8'))
    """

    code = fmt[1:] if fmt[:1] in "@=<" else fmt
    if code == "?":
        return bool_
    kind = "f" if code in ("e", "f", "d") else "i" if code in "bhilqn" else "u"
    if len(code) == 1 and code in "bhilqnBHILQNfd":
        found = _BY_KIND_SIZE.get((kind, itemsize))
        if found is not None:
            return found
    raise DTypeError(
        f"buffer format {fmt!r} (itemsize {itemsize}) has no shardmem dtype; "
        f"convert the data to one of {_NAMES} first"
    )


def result_dtype(values: list[object], /) -> DType:
    """Infer the dtype of flat Python scalars: bool, else int64, else float64 (also if empty).

    Examples
    --------
    >>> from shardmem._data.dtypes import result_dtype
    >>> result_dtype([True, False]), result_dtype([1, True]), result_dtype([1, 2.5])
    (DType('bool'), DType('int64'), DType('float64'))
    """

    kinds = {type(v) for v in values}
    if not kinds:
        return float64
    if kinds <= {bool}:
        return bool_
    if kinds <= {bool, int}:
        return int64
    if kinds <= {bool, int, float}:
        return float64
    bad = next(v for v in values if type(v) not in (bool, int, float))
    raise DTypeError(
        f"cannot store {bad!r} of type {type(bad).__name__} in an array; "
        "elements must be bool, int or float"
    )


def check_scalar(dtype: DType, value: object, /) -> bool | int | float:
    """Return ``value`` as the Python scalar ``dtype`` stores, or raise.

    bool arrays take bools; integer arrays take ints (and bools) in range;
    float arrays take floats, ints and bools.

    Raises
    ------
    DTypeError
        If the value's type does not fit the dtype's kind.
    ValueOverflowError
        If the value is out of the dtype's range.

    Examples
    --------
    >>> from shardmem._data.dtypes import check_scalar, uint8
    >>> check_scalar(uint8, 200)
    200
    """

    if dtype.kind == "b":
        if isinstance(value, bool) or type(value).__name__ == "bool":
            return bool(value)
        raise DTypeError(
            f"cannot store {value!r} of type {type(value).__name__} in a bool array; "
            "pass True/False, e.g. bool(value) or value != 0"
        )
    if dtype.kind in "iu":
        return _check_int(dtype, value)
    return _check_float(dtype, value)


def _check_int(dtype: DType, value: object) -> int:

    if isinstance(value, bool) or type(value).__name__ == "bool":  # also NumPy's bool
        return int(bool(value))
    number = None if isinstance(value, float) else as_index(value)
    if number is None:
        raise DTypeError(
            f"cannot store {value!r} of type {type(value).__name__} in an {dtype.name} array; "
            "pass an int (e.g. round(value)) or use a float dtype"
        )
    assert dtype.min is not None
    assert dtype.max is not None
    if not dtype.min <= number <= dtype.max:
        raise ValueOverflowError(
            f"value {number} does not fit {dtype.name} (range {dtype.min}..{dtype.max}); "
            "use a wider dtype"
        )
    return number


def _check_float(dtype: DType, value: object) -> float:

    if (
        isinstance(value, str | bytes)
        or not hasattr(value, "__float__")
        or getattr(value, "ndim", 0) != 0  # a NumPy array of values, not one value
        or (isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real))
    ):
        raise DTypeError(
            f"cannot store {value!r} of type {type(value).__name__} in a {dtype.name} array; "
            "pass a float or int"
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if dtype is float32 and math.isfinite(number) and abs(number) >= _FLOAT32_OVERFLOW:
        number = math.inf
    if math.isinf(number) and not (isinstance(value, float) and math.isinf(value)):
        raise ValueOverflowError(
            f"value {value!r} is too large for {dtype.name}; use float64 or a smaller value"
        )
    return number


def as_index(value: object, /) -> int | None:
    """Return ``operator.index(value)``, or None for bools and anything that is not an integer.

    Python and NumPy integers (also 0-d integer arrays) are integers; floats,
    strings and arrays of several values are not.

    Examples
    --------
    >>> from shardmem._data.dtypes import as_index
    >>> as_index(3), as_index(True), as_index(2.0), as_index("3")
    (3, None, None, None)
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def as_float(value: float | numbers.Real, /) -> float:
    """``float(value)``, with ints too large for a float as +-inf instead of an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if cast("int", value) > 0 else -math.inf  # only ints overflow


def check_real(value: object, name: str, where: str, /, *, finite: bool = False) -> float:
    """Return the real number ``value`` (int, float, bool, NumPy real scalar) as a float, or raise.

    ``name`` and ``where`` are the argument and the function, for the message.
    Ints too large for a float become +-inf.

    Raises
    ------
    ArgumentTypeError
        If ``value`` is not a real number (a string, None, a list, an array, a complex...).
    InvalidArgumentError
        If ``finite`` and ``value`` is NaN, infinite or too large for a float.

    Examples
    --------
    >>> from shardmem._data.dtypes import check_real
    >>> check_real(3, "cval", "box_blur")
    3.0
    >>> check_real("3", "cval", "box_blur")
    Traceback (most recent call last):
    ...
    shardmem.ArgumentTypeError: box_blur(): cval='3' must be a real number ...
    """
    if not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"{where}(): {name}={value!r} must be a real number (int or float), "
            f"not {type(value).__name__}"
        )
    number = as_float(value)
    if finite and not math.isfinite(number):
        raise InvalidArgumentError(f"{where}(): {name}={value!r} must be a finite number")
    return number


# --- casting (NumPy's rules, in pure Python) ------------------------------
type Casting = Literal["no", "equiv", "safe", "same_kind", "unsafe"]
CASTINGS: tuple[Casting, ...] = ("no", "equiv", "safe", "same_kind", "unsafe")
_KIND_ORDER = {"b": 0, "u": 1, "i": 2, "f": 3}
_F32_EXACT = 1 << 24  # ints up to 2**24 are exact in float32


def _safe(source: DType, target: DType) -> bool:
    if source == target or source.kind == "b":
        return True
    if target.kind == "f":
        if source.kind == "f":
            return target.itemsize >= source.itemsize
        return target.itemsize == 8 or source.itemsize <= 2  # NumPy: int64 -> float64 is safe
    if target.kind == "u":
        return source.kind == "u" and target.itemsize >= source.itemsize
    if target.kind == "i":
        same_sign = source.kind == "i" and target.itemsize >= source.itemsize
        return same_sign or (source.kind == "u" and target.itemsize > source.itemsize)
    return False


def can_cast(source: DType, target: DType, casting: str = "safe", /) -> bool:
    """Whether NumPy's ``np.can_cast(source, target, casting)`` allows the cast.

    ``'no'`` and ``'equiv'`` allow only the same dtype; ``'safe'`` only casts
    that keep every value (NumPy counts int64 -> float64 as safe);
    ``'same_kind'`` also narrowing within bool < unsigned < signed < float;
    ``'unsafe'`` any cast.

    Raises
    ------
    InvalidArgumentError
        If ``casting`` is not one of the five names.

    Examples
    --------
    >>> from shardmem._data.dtypes import can_cast, float32, int16, int32, uint8
    >>> can_cast(int16, float32), can_cast(int32, float32)
    (True, False)
    >>> can_cast(int16, uint8, "same_kind"), can_cast(uint8, int16)
    (False, True)
    """
    if casting not in CASTINGS:
        raise InvalidArgumentError(
            f"casting={casting!r} is not a casting rule; use one of "
            + ", ".join(repr(c) for c in CASTINGS)
        )
    if casting in ("no", "equiv"):
        return source == target
    if casting == "safe":
        return _safe(source, target)
    if casting == "same_kind":
        return _safe(source, target) or _KIND_ORDER[source.kind] <= _KIND_ORDER[target.kind]
    return True


def cast_values(
    values: Sequence[bool | int | float], source: DType, target: DType, /
) -> list[object]:
    """Convert flat values of ``source`` as NumPy's ``astype(target)`` (C casts) does.

    Integers wrap around (two's complement); floats truncate toward zero when
    cast to integers; anything nonzero (NaN too) is True; a float64 beyond
    float32's range becomes +-inf; ints round once to the nearest float.
    Where NumPy's result is undefined (NaN, infinities or values out of range
    cast to an integer dtype, which NumPy fills with a platform-dependent
    value and a warning) a `ValueOverflowError` is raised instead.

    Examples
    --------
    >>> from shardmem._data.dtypes import cast_values, float64, int8, uint8
    >>> cast_values([-1.0, 300.0], float64, uint8)
    Traceback (most recent call last):
    ...
    shardmem.ValueOverflowError: cannot cast float64 value -1.0 to uint8 ...
    >>> cast_values([-1, 300, 127], int8, uint8)
    [255, 44, 127]
    >>> cast_values([2.9, -2.9], float64, int8)
    [2, -2]
    """
    if target.kind == "b":
        return list(map(bool, values))  # C-level loops throughout: map, min, max
    if target.kind == "f":
        if target is float32 and source.kind in "iu" and source.itemsize >= 4:
            return _ints_to_float32(values)
        if target is float32 and source is float64:
            try:
                array.array("f", values)  # rounds as the C cast; refuses what overflows
            except OverflowError:
                return list(map(_to_float32, values))
        return list(values)  # exact, or rounded once by array.array('d') as a C cast does
    if source.kind == "f":
        return _floats_to_ints(values, source, target)
    return _wrap_ints(values, target)


def _in_range(values: Sequence[bool | int | float], low: int, high: int) -> bool:
    return not values or (low <= min(values) and max(values) <= high)


def _limits(target: DType) -> tuple[int, int]:
    assert target.min is not None
    assert target.max is not None
    return target.min, target.max


def _wrap_ints(values: Sequence[bool | int | float], target: DType) -> list[object]:
    low, high = _limits(target)
    if _in_range(values, low, high):
        return list(values)
    mask = (1 << (8 * target.itemsize)) - 1
    return [((int(v) - low) & mask) + low for v in values]


def _floats_to_ints(
    values: Sequence[bool | int | float], source: DType, target: DType
) -> list[object]:
    low, high = _limits(target)
    finite = all(map(math.isfinite, values))
    whole = list(map(int, values)) if finite else []
    if finite and _in_range(whole, low, high):
        return list(whole)
    bad = next(v for v in values if not math.isfinite(v) or not low <= int(v) <= high)
    raise ValueOverflowError(
        f"cannot cast {source.name} value {bad!r} to {target.name} (range "
        f"{target.min}..{target.max}): NumPy gives an undefined, platform-dependent "
        "result; clip the values first (or cast to a wider or float dtype)"
    )


def _ints_to_float32(values: Sequence[bool | int | float]) -> list[object]:
    if _in_range(values, -_F32_EXACT, _F32_EXACT):
        return list(values)
    return [_int_to_float32(int(v)) for v in values]


def _int_to_float32(n: int) -> float:
    """``n`` rounded once (to nearest, ties to even) to float32, as a C cast does."""
    if -_F32_EXACT <= n <= _F32_EXACT:
        return float(n)
    magnitude = abs(n)
    shift = magnitude.bit_length() - 24
    kept, rest = divmod(magnitude, 1 << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and kept & 1):
        kept += 1
    return math.copysign(float(kept << shift), n)


def _to_float32(x: float) -> float:
    """``x`` rounded to float32, +-inf beyond its range (the C cast; struct refuses it)."""
    try:
        result: float = struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)
    return result
