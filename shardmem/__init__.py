"""shardmem: shared-memory, data-parallel arrays for CPython 3.14 subinterpreters."""

from shardmem import image
from shardmem._data.array import SharedArray
from shardmem._data.buffer import SharedBuffer
from shardmem._data.creation import (
    arange,
    asarray,
    empty,
    empty_like,
    full,
    ones,
    zeros,
    zeros_like,
)
from shardmem._data.dtypes import (
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
from shardmem._engine import Pool, default_pool, run, submit
from shardmem._errors import (
    ArgumentTypeError,
    ArrayIndexError,
    BufferInUseError,
    ClosedError,
    DTypeError,
    ImageFormatError,
    InvalidArgumentError,
    KernelContractError,
    KernelError,
    OutOfMemoryError,
    PoolBrokenError,
    ResourceLimitError,
    ShapeError,
    ShardmemError,
    ShippingError,
    TaskCancelledError,
    TaskTimeoutError,
    ValueOverflowError,
)
from shardmem._primitives.histogram import histogram
from shardmem._primitives.map import map, vectorize, whole
from shardmem._primitives.reduce import dot, max, mean, min, reduce, sum
from shardmem._primitives.scan import cumsum, scan
from shardmem._primitives.split import set_task_cost
from shardmem._primitives.stencil import stencil
from shardmem._public import publish as _publish
from shardmem.image import data as _image_data  # noqa: F401  (published below)

__version__ = "0.1.0"

__all__ = (
    "ArgumentTypeError",
    "ArrayIndexError",
    "BufferInUseError",
    "ClosedError",
    "DType",
    "DTypeError",
    "ImageFormatError",
    "InvalidArgumentError",
    "KernelContractError",
    "KernelError",
    "OutOfMemoryError",
    "Pool",
    "PoolBrokenError",
    "ResourceLimitError",
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
    "cumsum",
    "default_pool",
    "dot",
    "empty",
    "empty_like",
    "float32",
    "float64",
    "full",
    "histogram",
    "image",
    "int8",
    "int16",
    "int32",
    "int64",
    "map",
    "max",
    "mean",
    "min",
    "ones",
    "reduce",
    "run",
    "scan",
    "set_task_cost",
    "stencil",
    "submit",
    "sum",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "vectorize",
    "whole",
    "zeros",
    "zeros_like",
)

__dir__ = _publish(__name__, globals())
image.__dir__ = _publish(image.__name__, vars(image))  # type: ignore[method-assign]
image.data.__dir__ = _publish(image.data.__name__, vars(image.data))  # type: ignore[method-assign]
