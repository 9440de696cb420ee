"""Reporting: a readable table, JSON for tracking, and a plot for the docs."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench_harness import Row, summary

__all__ = ("header", "metadata", "plot", "table", "write_json")


def metadata(*, quick: bool, workloads: list[str]) -> dict[str, Any]:
    """What was measured, where: Python, cores, start method, date."""
    import multiprocessing

    import shardmem as sm

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "process_cpu_count": os.process_cpu_count(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "multiprocessing_start_method": multiprocessing.get_start_method(),
        "shardmem": sm.__version__,
        "quick": quick,
        "workloads": workloads,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": os.getloadavg(),
    }


def header(meta: dict[str, Any]) -> str:
    """The first lines of the table."""
    mode = "quick run" if meta["quick"] else "full run"
    return (
        f"shardmem {meta['shardmem']} benchmarks ({mode}) - {meta['implementation']} "
        f"{meta['python']}, os.process_cpu_count() = {meta['process_cpu_count']} "
        f"(os.cpu_count() = {meta['cpu_count']}), multiprocessing start method "
        f"{meta['multiprocessing_start_method']}, {meta['platform']}, "
        f"1-min load average {meta['load_average_at_start'][0]:.2f} at start"
    )


def _duration(s: float | None) -> str:
    if s is None:
        return "-"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _figure(r: Row) -> str:
    if r.value is None:
        return ""
    text = f"{r.value:,.0f}" if abs(r.value) >= 1000 else f"{r.value:.3g}"
    return f"{text} {r.unit}"


def _versus(r: Row) -> str:
    if r.reference:
        return "(reference)"
    x = r.ratio_vs_shardmem
    if x is None or x <= 0 or math.isinf(x):
        return ""
    return f"{x:.3g}x slower" if x >= 1 else f"{1 / x:.3g}x faster"


def _target(r: Row) -> str:
    if not r.target:
        return ""
    verdict = {True: "PASS", False: "FAIL", None: ""}[r.ok]
    return f"{r.target} {verdict}".strip()


def table(rows: list[Row], meta: dict[str, Any]) -> str:
    """Rows grouped by workload: median, min-max, the figure, ratio to shardmem, target."""
    cols = (
        "workload",
        "variant",
        "median",
        "min - max",
        "figure",
        "cores",
        "vs shardmem",
        "target",
    )
    lines = [
        [
            r.workload,
            r.variant,
            _duration(r.median_s),
            f"{_duration(r.min_s)} - {_duration(r.max_s)}" if r.min_s is not None else "",
            _figure(r),
            "" if r.cpu_per_wall is None else f"{r.cpu_per_wall:.2f}",
            _versus(r),
            _target(r) + (f" [{r.note}]" if r.note else ""),
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(x[i]) for x in lines)) for i, c in enumerate(cols[:-1])]
    out = [header(meta), ""]
    out.append("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=False)) + "  target")
    last = ""
    for x in lines:
        if x[0] == last:
            x[0] = ""
        else:
            last = x[0]
            out.append("")
        out.append("  ".join(c.ljust(w) for c, w in zip(x, widths, strict=False)) + "  " + x[-1])
    passed, failed = summary(rows)
    out += [
        "",
        f"targets: {passed} passed, {failed} failed",
        "cores: process CPU time / wall time over the repetitions (child processes not counted);"
        " below ~1.7 on a 2-worker row, another program was using the machine.",
    ]
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any], notes: list[str]) -> None:
    """The results as JSON: ``meta``, ``rows``, ``targets`` and ``notes``."""
    targets = [
        {"workload": r.workload, "variant": r.variant, "target": r.target, "ok": r.ok}
        for r in rows
        if r.target
    ]
    doc = {"meta": meta, "rows": [r.as_json() for r in rows], "targets": targets, "notes": notes}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def plot(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    """One panel per workload: each alternative's cost relative to shardmem (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.ratio_vs_shardmem is not None and r.ratio_vs_shardmem > 0:
            groups.setdefault(r.workload, []).append(r)
    if not groups:
        return
    ncols = 3
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 2.3 * nrows + 0.8), squeeze=False)
    for ax, (name, group) in zip(axes.flat, groups.items(), strict=False):
        _panel(ax, name, group)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    fig.suptitle(
        f"{header(meta)}\nbar = time (or memory, CPU) relative to shardmem, 2 workers; "
        "> 1: shardmem is better",
        fontsize=8,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _panel(ax: Any, name: str, group: list[Row]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    labels = [r.variant for r in group]
    ratios = [r.ratio_vs_shardmem or 1.0 for r in group]
    colors = [
        "tab:green" if r.reference else "tab:blue" if x >= 1 else "tab:orange"
        for r, x in zip(group, ratios, strict=True)
    ]
    ax.barh(range(len(group)), ratios, color=colors)
    ax.set_xscale("log")
    lo, hi = min(*ratios, 1.0), max(*ratios, 1.0)
    ax.set_xlim(lo / 1.6, hi * 3.0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(group)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_title(name, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    for i, x in enumerate(ratios):
        ax.text(x, i, f" {x:.2g}x", va="center", fontsize=6)
