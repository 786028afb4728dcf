"""The HTML pieces every section of the report is built from: escaped text, tables, sections.

Every string that comes from the data goes through `_e` (`html.escape`), the only way data
reaches the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

# The data profile's rates as the charts draw them: (key, label, colour).
RATE_SERIES = (
    ("missing", "missing", "#7f8c8d"),
    ("nan", "NaN", "#c0392b"),
    ("pos_inf", "+Inf", "#e67e22"),
    ("neg_inf", "-Inf", "#8e44ad"),
    ("huge", "huge", "#2980b9"),
)


def _e(value: Any) -> str:
    """Any value as escaped HTML text (the only way data reaches the page)."""
    return escape(value if isinstance(value, str) else str(value), quote=True)


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    """A two-column table; pairs without a value are left out."""
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in pairs if v not in (None, "")
    )
    return f'<table class="kv">{rows}</table>'


def _compact(value: Any) -> str:
    """A string as itself, anything else as compact JSON (vocab's spelling of NaN/Inf kept)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2>{body}</section>'


def _missing(facts: Mapping[str, Any], node: str, what: str) -> str:
    error = (facts.get("errors") or {}).get(node)
    text = f"Not available: {error}" if error else f"{what} did not run in this run."
    return f'<p class="note">{_e(text)}</p>'
