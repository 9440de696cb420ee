"""The demo pipeline: rows, table and written images."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardmem import image
from shardmem._demo import format_table, run_demo


def test_run_demo_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_demo(tmp_path, workers=[1, 2], size=96, quick=True)
    steps = [r["step"] for r in rows]
    assert steps[:3] == ["resize", "to_uint8", "rgb2gray"]
    assert "sobel" in steps
    assert all(set(r["seconds"]) == {1, 2} for r in rows)  # type: ignore[arg-type]
    printed = capsys.readouterr().out
    assert "cores seen:" in printed
    assert "sobel" in printed
    assert printed.strip() == format_table(rows)
    for name in ("gaussian", "sobel", "median", "equalize_hist"):
        assert image.read_image(tmp_path / f"{name}.png").shape == (96, 96)
    assert image.read_image(tmp_path / "to_uint8.png").shape == (96, 96, 3)


def test_format_table_empty() -> None:
    assert format_table([]).startswith("cores seen:")


def test_run_demo_shows_a_progress_bar_over_its_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_demo(tmp_path, workers=[1, 2], size=32, quiet=True, progress=True)
    err = capsys.readouterr().err
    assert "demo (32x32)" in err
    assert "/60" in err  # 10 steps x 2 worker counts x best of 3 runs
