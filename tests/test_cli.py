"""The command line: every command answers --help, user errors are one line and exit 2."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from shardmem import image
from shardmem.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "shardmem", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("command", [[], ["demo"], ["info"], ["image"], ["bench"]])
def test_help_everywhere(command: list[str]) -> None:
    proc = _cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m shardmem" in proc.stdout


def test_info_reports_cores_and_memory() -> None:
    proc = _cli("info")
    assert proc.returncode == 0, proc.stderr
    assert f"{os.process_cpu_count()} usable" in proc.stdout
    assert "MiB resident per idle worker" in proc.stdout


def test_image_command_writes_the_result(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    image.write_image(src, np.arange(64 * 48, dtype=np.uint8).reshape(48, 64))
    out = tmp_path / "out.png"
    proc = _cli("image", "invert", str(src), str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    got = np.asarray(image.read_image(out))
    np.testing.assert_array_equal(got, 255 - np.asarray(image.read_image(src)))


# The parameters each listed operation needs (others run with their defaults).
NEEDS = {
    "adjust_gamma": ["gamma=0.5"],
    "convolve": ["weights=1,2,1;2,4,2;1,2,1"],
    "correlate": ["weights=0,1,0;1,-4,1;0,1,0"],
    "resize": ["output_shape=20,30"],
    "threshold": ["thresh=0.5"],
    "rescale_intensity": ["in_range=10,200"],
}


def _operation_names() -> list[str]:
    from shardmem.__main__ import _operations

    return list(_operations())


@pytest.mark.parametrize("operation", _operation_names())
def test_every_listed_operation_runs_on_an_rgb_and_a_grey_image(
    operation: str, tmp_path: Path
) -> None:
    """Each operation the CLI lists runs in-process (main()) on a colour and a grey file."""
    rng = np.random.default_rng(3)
    for name, picture in (
        ("rgb.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)),
        ("grey.png", rng.integers(0, 256, (24, 32), dtype=np.uint8)),
    ):
        if operation == "rgb2gray" and picture.ndim == 2:
            continue
        src, out = tmp_path / name, tmp_path / f"out-{name}"
        image.write_image(src, picture)
        args = ["image", operation, str(src), str(out), "--workers", "2"]
        for p in NEEDS.get(operation, []):
            args += ["-p", p]
        assert main(args) == 0
        assert image.read_image(out).shape[:2] == ((20, 30) if operation == "resize" else (24, 32))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["image", "resize", "a.png", "b.png"], "resize needs output_shape: for example"),
        (["image", "convolve", "a.png", "b.png"], "-p weights=1,2,1;2,4,2;1,2,1"),
        (["image", "sobel", "/no/such/file.png", "/tmp/x.png"], "/no/such/file.png"),
        (["image", "nope", "a.png", "b.png"], "unknown operation 'nope'"),
        (["image", "gaussian", "a.png", "b.png", "-p", "bogus"], "NAME=VALUE"),
        (["demo", "--size", "2"], "--size must be at least 8"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreadable_image_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    proc = _cli("image", "invert", str(bad), str(tmp_path / "o.png"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_demo_quick_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["demo", "--quick", "--size", "32", "--workers", "1", "2", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "cores seen" in out
    assert "speedup" in out
    assert any(tmp_path.glob("*.png"))


@pytest.mark.parametrize("terminal", [True, False])
def test_image_command_shows_progress_bars_on_a_terminal_only(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    image.write_image(src, np.arange(64 * 48, dtype=np.uint8).reshape(48, 64))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert main(["image", "box_blur", str(src), str(out), "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert ("task" in err) is terminal  # a bar over the tasks of each call
    assert image.read_image(out).shape == (48, 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "weights=nan,1;1,1"], None),  # a NaN result pixel is written as 0
        (["-p", "output_shape=100000,100000"], "Unable to allocate 37.25 GiB"),
        (["-p", "thresh=128"], "pass thresh=0.502"),
        (["-p", "nbins=0"], "with NAME one of channel_axis"),
    ],
)
def test_hostile_parameters_end_in_one_line(
    args: list[str], message: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.png"
    image.write_image(src, np.arange(24 * 32, dtype=np.uint8).reshape(24, 32))
    operation = {"weights": "convolve", "output_shape": "resize", "thresh": "threshold"}.get(
        args[1].partition("=")[0], "invert"
    )
    status = main(["image", operation, str(src), str(tmp_path / "out.png"), *args])
    err = capsys.readouterr().err
    if message is None:
        assert status == 0, err
    else:
        assert status == 2
        assert message in err
        assert len(err.strip().splitlines()) == 1


# Malformed input files: (name, content). Each ends in one line naming the file, exit 2.
_IHDR_20000 = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)


def _png(ihdr: bytes, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


MALFORMED = [
    ("above.pgm", b"P2\n2 1\n255\n0 300\n", "above the file's maxval"),
    ("negative.pgm", b"P2\n2 1\n255\n0 -3\n", "'-3' is not a number"),
    ("word.ppm", b"P3\n1 1\n255\n1 two 3\n", "'two' is not a number"),
    ("binary.pgm", b"P5\n2 1\n10\n\x00\xff", "above the file's maxval 10"),
    ("short-ihdr.png", _png(b"\0\0\0\1\0\0", b"\0\0"), "not a readable image"),
    ("bomb.png", _png(_IHDR_20000, bytes(20001 * 50)), "decompression bomb"),
    ("empty.png", b"", "not a readable image"),
]


@pytest.mark.parametrize(("name", "content", "message"), MALFORMED)
def test_malformed_files_end_in_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    proc = _cli("image", "invert", str(tmp_path / name), str(tmp_path / "o.png"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("shardmem image: error: ")
    assert name in lines[0]
    assert message in lines[0]


def test_short_ihdr_with_the_stdlib_reader_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Pillow the stdlib PNG reader decodes: a short IHDR is named, not struct.error."""
    from shardmem.image import _codec

    monkeypatch.setattr(_codec, "_pillow", lambda: None)
    (tmp_path / "s.png").write_bytes(_png(b"\0\0\0\1\0\0", b"\0\0"))
    assert main(["image", "invert", str(tmp_path / "s.png"), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "s.png: corrupt PNG: its IHDR chunk has 6 bytes, not 13" in err


def test_none_is_read_as_none(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    image.write_image(src, np.arange(12, dtype=np.uint8).reshape(3, 4))
    args = ["image", "invert", str(src), str(tmp_path / "o.png"), "-p", "channel_axis=None"]
    assert main(args) == 0
    assert (
        image.read_image(tmp_path / "o.png").tolist()
        == (255 - np.arange(12).reshape(3, 4)).tolist()
    )


def test_an_output_name_without_a_suffix_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.png"
    image.write_image(src, np.zeros((2, 2), np.uint8))
    assert main(["image", "invert", str(src), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "has no suffix" in err


# -- answers, not tracebacks: overflow, empty images, undecodable names, bugs ----------------------


def test_adjust_gamma_with_a_huge_gain_writes_the_clipped_image(tmp_path: Path) -> None:
    """Formerly ValueError: cannot convert float NaN to integer, with a traceback."""
    src = tmp_path / "a.pgm"
    src.write_bytes(b"P5\n2 1\n255\n\x00\x80")
    proc = _cli("image", "adjust_gamma", str(src), str(tmp_path / "g.png"), "-p", "gain=1e307")
    assert proc.returncode == 0, proc.stderr
    assert image.read_image(tmp_path / "g.png").tolist() == [[0, 255]]


def test_a_float_image_whose_power_overflows_is_written(tmp_path: Path) -> None:
    """A float PFM (read by Pillow): 2.0 ** 2000 is inf (written as 255), not OverflowError."""
    src = tmp_path / "a.pfm"
    src.write_bytes(b"Pf\n2 1\n-1.0\n" + struct.pack("<2f", 2.0, 0.5))
    proc = _cli("image", "adjust_gamma", str(src), str(tmp_path / "o.png"), "-p", "gamma=2000")
    assert proc.returncode == 0, proc.stderr
    assert image.read_image(tmp_path / "o.png").tolist() == [[255, 0]]


def test_an_image_without_pixels_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """Formerly exit 0 and a PNG of width 0 that no reader accepts."""
    src = tmp_path / "zero.pgm"
    src.write_bytes(b"P5\n0 5\n255\n")
    proc = _cli("image", "invert", str(src), str(tmp_path / "z.png"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"shardmem image: error: {src}: corrupt PGM/PPM header: it declares 0 x 5 pixels"
    ]
    assert not (tmp_path / "z.png").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="file names are bytes on POSIX only")
def test_a_file_name_that_is_not_utf8_is_printed_escaped(tmp_path: Path) -> None:
    """Formerly UnicodeEncodeError from the success line on a strict UTF-8 stdout."""
    name = os.fsdecode(bytes(tmp_path) + b"/\xff.pgm")
    Path(name).write_bytes(b"P5\n2 1\n255\n\x00\x80")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "shardmem", "image", "invert", name, str(tmp_path / "o.png")],
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert b"\\udcff.pgm -> " in proc.stdout
    assert image.read_image(tmp_path / "o.png").tolist() == [[255, 127]]


def test_a_bug_ends_in_one_line_and_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no user can cause (a bug) is still one line, never a traceback."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("invariant broken\nsecond line")

    monkeypatch.setattr(image, "invert", broken)
    src = tmp_path / "in.png"
    image.write_image(src, np.zeros((2, 2), np.uint8))
    assert main(["image", "invert", str(src), str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "shardmem image: internal error: RuntimeError: invariant broken (a bug in shardmem: "
        "please report it with this command line)"
    ]
