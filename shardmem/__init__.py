"""shardmem: shared-memory, data-parallel arrays for CPython 3.14 subinterpreters."""

from shardmem._array import SharedArray
from shardmem._buffer import SharedBuffer
from shardmem._creation import (
    arange,
    asarray,
    empty,
    empty_like,
    full,
    ones,
    zeros,
    zeros_like,
)
from shardmem._dtypes import (
    DType,
    bool_,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
    uint32,
    uint64,
)
from shardmem._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    ArrayIndexError,
    BufferInUseError,
    ClosedError,
    DTypeError,
    KernelError,
    PoolBrokenError,
    ShapeError,
    ShardmemError,
    ShippingError,
    TaskCancelledError,
    TaskTimeoutError,
    ValueOverflowError,
)
from shardmem._histogram import histogram
from shardmem._map import map, vectorize
from shardmem._pool import Pool, default_pool, run, submit
from shardmem._stencil import stencil

from shardmem._reduce import dot, max, mean, min, reduce, sum
__version__ = "0.1.0"

__all__ = (
    "ArgumentTypeError",
    "InvalidArgumentError",
    "Pool",
    "default_pool",
    "dot",
    "histogram",
    "map",
    "max",
    "mean",
    "min",
    "reduce",
    "run",
    "stencil",
    "submit",
    "ArrayIndexError",
    "BufferInUseError",
    "ClosedError",
    "DType",
    "DTypeError",
    "KernelError",
    "PoolBrokenError",
    "ShapeError",
    "ShardmemError",
    "SharedArray",
    "SharedBuffer",
    "ShippingError",
    "TaskCancelledError",
    "TaskTimeoutError",
    "ValueOverflowError",
    "arange",
    "asarray",
    "bool_",
    "empty",
    "empty_like",
    "float32",
    "float64",
    "full",
    "int8",
    "int16",
    "int32",
    "int64",
    "ones",
    "sum",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "vectorize",
    "zeros",
    "zeros_like",
)
