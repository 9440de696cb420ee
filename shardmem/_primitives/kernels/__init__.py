"""Worker-side kernels of the primitives.

Standard library only: they run inside worker interpreters.
"""
