"""Border modes, once for every primitive: what a position outside an array reads.

Used by ``stencil``, the image filters and ``shardmem.dask.map_overlap``; the
kernels that call `source_index` ship it to the workers with them.
"""

from __future__ import annotations

__all__ = ("MODES", "source_index")

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def source_index(k: int, n: int, mode: str) -> int:
    """The index in ``range(n)`` that position ``k`` reads under ``mode``; -1 for ``cval``.

    Same rules as ``scipy.ndimage``: reflect ``dcba|abcd|dcba``, mirror
    ``dcb|abcd|cba``, nearest ``aaa|abcd|ddd``, wrap ``bcd|abcd|abc``,
    constant ``kkk|abcd|kkk``.

    >>> [source_index(k, 3, "reflect") for k in range(-4, 7)]
    [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
    >>> [source_index(k, 3, "mirror") for k in range(-2, 5)]
    [2, 1, 0, 1, 2, 1, 0]
    """
    if 0 <= k < n:
        return k
    if mode == "constant":
        return -1
    if mode == "nearest":
        return 0 if k < 0 else n - 1
    if mode == "wrap":
        return k % n
    if mode == "mirror":
        if n == 1:
            return 0
        k %= 2 * n - 2
        return k if k < n else 2 * n - 2 - k
    k %= 2 * n  # reflect
    return k if k < n else 2 * n - 1 - k
