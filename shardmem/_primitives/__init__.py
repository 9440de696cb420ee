"""The primitives: planning, the one blockwise runner, map, reduce, scan, stencil and
histogram.

They reach the engine only through its door, ``shardmem._engine``.
"""
