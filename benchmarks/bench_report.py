"""Reporting: a readable table, JSON for tracking, and a plot for the docs."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from bench_harness import Row

__all__ = (
    "NOT_COMPARABLE",
    "SIZE_DEPENDENT",
    "WIDTH",
    "header",
    "mark_quick",
    "metadata",
    "plot",
    "table",
    "verdict",
    "write_json",
    "wrong_results",
)


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


WIDTH = 100  # every line of the table fits in this many characters
NOT_COMPARABLE = "not comparable at quick sizes"
# Workloads whose data shrinks with --quick (their targets are set for the full sizes).
SIZE_DEPENDENT = frozenset(
    {
        "loop_small",
        "loop_big",
        "lut_loop",
        "translate",
        "box_blur",
        "stencil",
        "sum_f64",
        "sum_u8",
        "cumsum_f64",
        "histogram_u8",
        "histogram_bins",
        "tiny_tasks",
        "executor",
        "dask_bag",
        "joblib_loop",
        "algorithms",
    }
)


def header(meta: dict[str, Any]) -> str:
    """The first lines of the table: what was measured, and where (each <= WIDTH)."""
    if meta["quick"]:
        mode = "quick run: small sizes, few repetitions"
    else:
        mode = "full run: the documented sizes"
    lines = [
        f"shardmem {meta['shardmem']} benchmarks ({mode})",
        "Each row: one variant of a workload in this process, median and min - max wall time "
        "over the repetitions, its figure, and its time relative to the workload's reference "
        "row (shardmem).",
        f"{meta['implementation']} {meta['python']}, os.process_cpu_count() = "
        f"{meta['process_cpu_count']} (os.cpu_count() = {meta['cpu_count']}), multiprocessing "
        f"start method {meta['multiprocessing_start_method']}, 1-min load average "
        f"{meta['load_average_at_start'][0]:.2f} at start, {meta['platform']}",
    ]
    return "\n".join(_wrap(line, "") for line in lines)


def _wrap(text: str, indent: str) -> str:
    return "\n".join(
        textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")
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
    if 0.995 <= x < 1.005:
        return "same"
    return f"{x:.3g}x slower" if x >= 1 else f"{1 / x:.3g}x faster"


def verdict(r: Row) -> str:
    """``met``, ``missed``, ``not comparable`` (quick run, size-dependent workload) or ``info``."""
    if r.ok is True:
        return "met"
    if r.ok is False:
        return "missed"
    return "not comparable" if NOT_COMPARABLE in r.target else "info"


def mark_quick(rows: list[Row], workload: str) -> None:
    """In a quick run, take the verdict off the targets of a workload whose data shrank."""
    if workload not in SIZE_DEPENDENT:
        return
    for r in rows:
        if r.target and r.ok is not None:
            r.ok = None
            r.target = f"{r.target}; {NOT_COMPARABLE}"


def wrong_results(rows: list[Row]) -> list[Row]:
    """Rows whose result differed from the reference computation."""
    return [r for r in rows if "WRONG RESULT" in r.note]


def _cells(r: Row) -> list[str]:
    spread = f"{_duration(r.min_s)} - {_duration(r.max_s)}" if r.min_s is not None else ""
    cores = "" if r.cpu_per_wall is None else f"{r.cpu_per_wall:.2f}"
    return [_duration(r.median_s), spread, _figure(r), cores, _versus(r)]


def table(rows: list[Row], meta: dict[str, Any]) -> str:
    """Rows grouped by workload, then each workload's targets and notes; lines <= WIDTH."""
    cols = ["median", "min - max", "figure", "cores", "vs shardmem"]
    cells = [_cells(r) for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    numbers = sum(widths) + 2 * len(widths)
    name_width = max(20, WIDTH - 2 - numbers)

    def line(name: str, values: list[str]) -> str:
        text = "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
        if len(name) > name_width:
            return f"  {name}\n  {'':{name_width}}  {text}".rstrip()
        return f"  {name:{name_width}}  {text}".rstrip()

    out = [header(meta), "", line("workload / variant", cols)]
    groups: dict[str, list[tuple[Row, list[str]]]] = {}
    for r, c in zip(rows, cells, strict=True):
        groups.setdefault(r.workload, []).append((r, c))
    for name, members in groups.items():
        out += ["", name]
        out += [line(r.variant, c) for r, c in members]
        for r, _ in members:
            if r.target:
                out.append(_wrap(_target_line(r), "    "))
            if r.note:
                out.append(_wrap(f"note ({r.variant}): {r.note}", "    "))
    return "\n".join([*out, "", *_summary(rows, meta)])


_LABELS = {
    "met": "target met",
    "missed": "target MISSED",
    "not comparable": f"target {NOT_COMPARABLE}",
    "info": "for information",
}


def _target_line(r: Row) -> str:
    text = r.target.removesuffix(f"; {NOT_COMPARABLE}")
    return f"{_LABELS[verdict(r)]}: {text} ({r.variant})"


def _summary(rows: list[Row], meta: dict[str, Any]) -> list[str]:
    counts = {"met": 0, "missed": 0, "not comparable": 0, "info": 0}
    for r in rows:
        if r.target:
            counts[verdict(r)] += 1
    wrong = wrong_results(rows)
    results = (
        f"results: {len(wrong)} variant(s) computed a WRONG RESULT (see the notes above)"
        if wrong
        else "results: every variant that ran computed the expected result"
    )
    targets = f"targets: {counts['met']} met, {counts['missed']} missed"
    if counts["not comparable"]:
        targets += (
            f", {counts['not comparable']} not comparable at quick sizes (set for the full "
            "sizes; run without --quick to check them)"
        )
    if counts["info"]:
        targets += f", {counts['info']} for information only"
    lines = [results, targets]
    if counts["missed"]:
        lines.append(
            "A missed target is a timing on this machine now: see the cores column (below ~1.7 "
            "on a 2-worker row, another program was using the machine) and rerun when it is idle."
        )
    lines.append(
        "cores: process CPU time / wall time over the repetitions (child processes not counted)."
    )
    lines.append("exit status: 1 if a result was wrong, else 0 (timing targets are reported).")
    return [_wrap(x, "") for x in lines]


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
