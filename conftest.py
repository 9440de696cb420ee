"""Doctests of the public namespace run as a user's script would: builtins not shadowed.

``shardmem/__init__.py`` collects the doctests of every public function (their
``__module__`` is ``shardmem``), and doctest runs them in a copy of that
module's namespace, where ``map``, ``sum``, ``min`` and ``max`` are shardmem's.
A kernel defined in such an example would then call shardmem's ``max``; a user
who wrote ``import shardmem as sm`` has the builtins, so the examples get them.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

PACKAGE_INIT = Path(__file__).resolve().parent / "shardmem" / "__init__.py"


@pytest.fixture(autouse=True)
def _user_namespace_for_doctests(request: pytest.FixtureRequest) -> None:
    item = request.node
    if isinstance(item, DoctestItem) and item.dtest is not None and item.path == PACKAGE_INIT:
        for name in ("map", "sum", "min", "max"):
            item.dtest.globs[name] = getattr(builtins, name)
