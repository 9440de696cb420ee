"""MkDocs hook: render docs/bench.json into the performance page at build time.

The page holds the marker ``<!-- bench:results -->``; this hook replaces it with
the machine description and one Markdown table per list of result rows found
in ``docs/bench.json`` (written by ``python -m shardmem bench --json``), plus
``docs/img/bench.png`` when that file exists. The tables therefore always
match the committed measurements. Anything it cannot lay out as a table is
shown as JSON rather than dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "<!-- bench:results -->"
PAGE = "performance.md"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the marker of the performance page (MkDocs event)."""
    if page.file.src_uri != PAGE or MARKER not in markdown:
        return markdown
    docs = Path(config["docs_dir"])
    text = render(docs / "bench.json")
    if (docs / "img" / "bench.png").is_file():
        text += "\n\n![Benchmark results](img/bench.png)\n"
    return markdown.replace(MARKER, text)


def render(path: Path) -> str:
    """Markdown for the benchmark results in ``path``."""
    if not path.is_file():
        return (
            '!!! note "Not measured yet"\n    The full benchmark table has not been measured '
            "on this checkout: run `python -m shardmem bench --json docs/bench.json "
            "--plot docs/img/bench.png` and rebuild the docs.\n"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f'!!! warning "Results not shown"\n    `{path.name}` could not be read: {exc}\n'
    parts = _render(data)
    return "\n\n".join(parts) if parts else _as_json(data)


TITLES = {"meta": "Machine and run", "rows": "Results", "targets": "Targets", "notes": "Notes"}


def _render(data: object, title: str = "") -> list[str]:
    head = f"**{TITLES.get(title, title)}**\n\n" if title else ""
    if _is_rows(data):
        assert isinstance(data, list)
        return [head + table(data)]
    if isinstance(data, list) and data and not any(isinstance(v, dict | list) for v in data):
        return [head + "\n".join(f"- {_cell(v)}" for v in data)]
    if not isinstance(data, dict):
        return []
    parts: list[str] = []
    facts = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    if facts:
        parts.append(_facts(facts))
    for key, value in data.items():
        if isinstance(value, dict) and not any(isinstance(v, dict | list) for v in value.values()):
            parts.append(f"**{TITLES.get(key, key)}**\n\n{_facts(value)}")
        elif isinstance(value, dict | list):
            parts.extend(_render(value, key) or [f"**{key}**\n\n{_as_json(value)}"])
    return parts


def _is_rows(data: object) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(r, dict) for r in data)


def _facts(facts: dict[str, object]) -> str:
    return "\n".join(f"- **{k}**: {_cell(v)}" for k, v in facts.items())


def table(rows: list[dict[str, object]]) -> str:
    """A Markdown table with one column per key, in order of first appearance."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(", ", ": "))
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _as_json(data: object) -> str:
    return "```json\n" + json.dumps(data, indent=2) + "\n```"
