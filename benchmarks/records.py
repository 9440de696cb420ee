"""A pure-Python record pipeline for the Dask and joblib rows (standard library only).

Kept free of NumPy and of the harness: process pools and worker
interpreters import this module by name.
"""

from __future__ import annotations

import random

__all__ = ("keep", "make_lines", "parse", "score_line", "score_lines")

_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


def make_lines(n: int, seed: int = 1) -> list[str]:
    """``n`` CSV records: id, name, score, space-separated tags."""
    rnd = random.Random(seed)
    return [
        f"{i},{rnd.choice(_WORDS)},{rnd.random() * 100:.3f},{' '.join(rnd.choices(_WORDS, k=4))}"
        for i in range(n)
    ]


def parse(line: str) -> dict[str, object]:
    """One record as a dict."""
    i, name, score, tags = line.split(",")
    return {"id": int(i), "name": name, "score": float(score), "tags": tags.split()}


def keep(record: dict[str, object]) -> bool:
    """The filter of the pipeline."""
    return float(record["score"]) > 20.0 and "beta" in record["tags"]  # type: ignore[arg-type,operator]


def score_line(line: str) -> float:
    """A per-item function for joblib: parse, then a little arithmetic over the tags."""
    record = parse(line)
    total = float(record["score"])  # type: ignore[arg-type]
    for tag in record["tags"]:  # type: ignore[attr-defined]
        for ch in tag:
            total = (total * 31 + ord(ch)) % 1_000_003
    return total


def score_lines(lines: list[str]) -> list[float]:
    """``score_line`` over a slice (one joblib call per slice of records)."""
    return [score_line(line) for line in lines]
