"""The data layer: dtypes, shared buffers, arrays, conversion and creation.

It knows nothing of pools: the engine and the primitives build on it.
"""
