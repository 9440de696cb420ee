"""The exception tree: one root, each class also subclassing the builtin it refines."""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "ArgumentTypeError",
    "ArrayIndexError",
    "BufferInUseError",
    "ClosedError",
    "DTypeError",
    "ImageFormatError",
    "InvalidArgumentError",
    "KernelContractError",
    "KernelError",
    "OutOfMemoryError",
    "PoolBrokenError",
    "ResourceLimitError",
    "ShapeError",
    "ShardmemError",
    "ShippingError",
    "TaskCancelledError",
    "TaskTimeoutError",
    "ValueOverflowError",
]


class ShardmemError(Exception):
    """Root of every error shardmem raises on purpose.

    Each subclass also derives from the builtin exception it refines, so
    ``except ValueError`` keeps working for code that does not know shardmem.

    >>> import shardmem as sm
    >>> issubclass(sm.ShapeError, ValueError) and issubclass(sm.ShapeError, sm.ShardmemError)
    True
    """


class InvalidArgumentError(ShardmemError, ValueError):
    """An argument has the right type but a value outside what is allowed."""


class ArgumentTypeError(ShardmemError, TypeError):
    """An argument has the wrong type."""


class DTypeError(ShardmemError, TypeError):
    """An unknown dtype, or dtypes that cannot be combined."""


class ShapeError(ShardmemError, ValueError):
    """A negative, overflowing, ragged or mismatched shape."""


class ValueOverflowError(ShardmemError, OverflowError):
    """A value does not fit the array's dtype."""


class OutOfMemoryError(ShardmemError, MemoryError):
    """Memory for an array (or a buffer) could not be allocated; the message says how much."""


class ImageFormatError(ShardmemError, ValueError):
    """A file is not an image the codec can read, or an image cannot be written in a format."""


class ArrayIndexError(ShardmemError, IndexError):
    """An index is out of range or has the wrong form."""


class BufferInUseError(ShardmemError, BufferError):
    """A buffer cannot be closed because views of it are still alive."""


class ClosedError(ShardmemError, RuntimeError):
    """A buffer or pool was used after ``close()``."""


class ShippingError(ShardmemError, TypeError):
    """A kernel cannot be sent to worker interpreters (refused before any work starts)."""


class KernelContractError(ShardmemError, TypeError):
    """A kernel did what its primitive does not allow.

    A ``map`` kernel returned a value instead of writing its output views,
    or ``reduce`` partials that the default combine cannot add (pass
    ``combine=``).
    """


class KernelError(ShardmemError, RuntimeError):
    """A kernel raised in a worker.

    When the kernel's exception can be rebuilt in the caller, that exception is
    raised and this error is its ``__cause__``; otherwise this error is raised.
    It carries the worker's traceback text, the kernel's name and the task.

    Attributes
    ----------
    kernel : str
        Qualified name of the kernel.
    task : str
        Which piece of work failed (worker rank, shard or chunk).
    exc_type : str
        Name of the exception type raised in the worker.
    remote_traceback : str
        The traceback as formatted inside the worker.
    """

    def __init__(
        self, message: str, *, kernel: str, task: str, exc_type: str, remote_traceback: str
    ) -> None:
        super().__init__(message)
        self.kernel = kernel
        self.task = task
        self.exc_type = exc_type
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the keyword-only fields (errors travel through Dask and futures)."""
        return (_rebuild_kernel_error, (str(self.args[0]) if self.args else "", self.__dict__))

    def __str__(self) -> str:
        head = super().__str__()
        return f"{head}\n\nWorker traceback:\n{self.remote_traceback.rstrip()}"


def _rebuild_kernel_error(message: str, fields: dict[str, str]) -> KernelError:
    return KernelError(message, **fields)


class TaskTimeoutError(ShardmemError, TimeoutError):
    """A call did not finish within its ``timeout=``; its running kernels were stopped."""


class TaskCancelledError(ShardmemError, concurrent.futures.CancelledError):
    """A task was cancelled before it produced a result."""


class PoolBrokenError(ShardmemError, RuntimeError):
    """A worker interpreter failed in a way that makes the pool unusable."""


class ResourceLimitError(ShardmemError, OSError):
    """The system refused a resource a pool needs (file descriptors, threads, memory).

    Nothing the attempt had taken is left behind.
    """
