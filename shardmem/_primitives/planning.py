"""Pure planning: how rows and elements are split into shards and chunks.

Nothing here touches memory or the pool; every function maps integers to
integers, so the plans are easy to test and identical on every run.
"""

from __future__ import annotations

from shardmem._errors import InvalidArgumentError

__all__ = (
    "DEFAULT_CHUNK_ELEMENTS",
    "MAX_DEFAULT_CHUNKS",
    "check_chunks",
    "default_chunks",
    "nonempty_rows",
    "split_rows",
)

DEFAULT_CHUNK_ELEMENTS = 65536
"""Elements per chunk in the worker-count-independent default chunking."""

MAX_DEFAULT_CHUNKS = 64
"""Upper bound of :func:`default_chunks`."""


def split_rows(n: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ``parts`` contiguous, near-equal ``(start, stop)`` ranges.

    The first ``n % parts`` ranges get one extra row. Ranges cover ``0..n``
    in order with no gaps; when ``parts > n`` the trailing ranges are empty
    (``start == stop``), so callers that want no empty work must skip them.

    Parameters
    ----------
    n : int
        Number of rows, ``n >= 0``.
    parts : int
        Number of ranges, ``parts >= 1``.

    Returns
    -------
    list of (int, int)
        Exactly ``parts`` ranges.

    Examples
    --------
    >>> split_rows(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    >>> split_rows(2, 3)
    [(0, 1), (1, 2), (2, 2)]
    """
    if n < 0:
        raise InvalidArgumentError(f"n={n} must be >= 0; pass a row count")
    if parts < 1:
        raise InvalidArgumentError(f"parts={parts} must be >= 1; pass a positive number of parts")
    base, extra = divmod(n, parts)
    ranges: list[tuple[int, int]] = []
    start = 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        ranges.append((start, stop))
        start = stop
    return ranges


def nonempty_rows(n: int, parts: int) -> list[tuple[int, int]]:
    """Like :func:`split_rows` but without the empty ranges.

    >>> nonempty_rows(2, 3)
    [(0, 1), (1, 2)]
    >>> nonempty_rows(0, 3)
    []
    >>> nonempty_rows(2, 2**70)  # more parts than rows: one range per row, nothing huge built
    [(0, 1), (1, 2)]
    """
    if parts > n > 0:
        parts = n  # the same non-empty ranges (each one row), without building `parts` of them
    return [(a, b) for a, b in split_rows(n, parts) if b > a]


def default_chunks(size: int) -> int:
    """Chunk count that depends on the element count only (never on workers).

    ``ceil(size / 65536)`` clamped to ``[1, 64]``; used by reductions so that
    results are bitwise identical whatever the pool size.

    >>> default_chunks(0), default_chunks(65536), default_chunks(65537), default_chunks(10**9)
    (1, 1, 2, 64)
    """
    chunks = -(-size // DEFAULT_CHUNK_ELEMENTS)
    return max(1, min(MAX_DEFAULT_CHUNKS, chunks))


def check_chunks(chunks: object) -> int:
    """Validate a ``chunks=`` argument and return it as an ``int``.

    >>> check_chunks(4)
    4
    """
    if isinstance(chunks, bool) or not isinstance(chunks, int):
        raise InvalidArgumentError(
            f"chunks={chunks!r} must be a positive int; pass e.g. chunks=16 or chunks=None"
        )
    if chunks < 1:
        raise InvalidArgumentError(
            f"chunks={chunks} must be >= 1; pass e.g. chunks=16 or chunks=None"
        )
    return chunks
