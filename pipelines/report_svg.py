"""Inline SVG charts for the HTML report: plain markup, no JavaScript, no fonts or styles fetched.

Every label is escaped (`html.escape`), so a feature named `<img src=x onerror=alert(1)>`
is drawn as text. Values may be floats, None or vocab's strings for non-finite floats
("NaN", "Infinity", "-Infinity"): a non-finite or missing point is never drawn as a position,
it is marked and labelled instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

FONT = "12px"
NONFINITE_COLOR = "#c0392b"


def _e(value) -> str:
    return escape(str(value), quote=True)


def as_number(value) -> float | None:
    """A float from a number or vocab's spelling ("NaN", "Infinity", "-Infinity"); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)  # float("NaN"), float("Infinity") and float("-Infinity") all parse
    except (TypeError, ValueError):
        return None


def fmt(value, digits: int = 4) -> str:
    """A number for people: NaN, +Inf, -Inf spelled out; others with `digits` significant."""
    number = as_number(value)
    if number is None:
        return "n/a" if value is None else str(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.{digits}g}"


def nice_step(span: float, most: int = 6) -> float:
    """The smallest round step (1, 2, 2.5 or 5 x 10^k) covering `span` in at most `most` steps."""
    if not span > 0 or not math.isfinite(span):
        return 0.25
    power = 10 ** math.floor(math.log10(span / most))
    for scale in (1, 10):
        for step in (1, 2, 2.5, 5):
            if math.ceil(span / (step * power * scale) - 1e-9) <= most:
                return step * power * scale
    return 10 * power


def nice_max(value: float) -> float:
    """The top of an axis from 0 that holds `value`: a whole number of `nice_step`s (1 if empty)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    step = nice_step(value)
    return step * math.ceil(value / step - 1e-9)


def ticks(lo: float, hi: float) -> list[float]:
    """Round tick values from `lo` to `hi` (both already multiples of the step)."""
    step = nice_step(hi - lo)
    count = int(round((hi - lo) / step))
    return [lo + step * i for i in range(count + 1)]


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}" '
        f'font-family="sans-serif" font-size="{FONT}">'
        f"<title>{_e(label)}</title>{''.join(body)}</svg>"
    )


def _legend(series: Sequence[tuple[str, str, str]], x: int, y: int) -> list[str]:
    parts = []
    for _key, name, color in series:
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}">{_e(name)}</text>')
        x += 24 + 7 * len(name)
    return parts


def stacked_bars(
    groups: Sequence[tuple[str, dict]],
    series: Sequence[tuple[str, str, str]],
    title: str,
    percent: bool = True,
    width: int = 900,
) -> str:
    """One horizontal bar per row, stacked by series, the non-zero parts written after it.

    Args:
      groups: `(row label, {series key: value})`; values are disjoint shares of the row (rates
        in [0, 1] with `percent`, else counts); a missing key counts as 0.
      series: `(key, legend name, colour)` in stacking order.
    """
    label_w, row_h, bar_h, top = 180, 22, 14, 28
    plot_w = int((width - label_w) * 0.55)
    totals = [
        sum(max(0.0, as_number(row.get(k)) or 0.0) for k, _, _ in series) for _, row in groups
    ]
    vmax = nice_max(max([t for t in totals if math.isfinite(t)] or [0.0]))
    height = top + row_h * max(1, len(groups)) + 22
    body = _legend(series, label_w, 14)
    for value in ticks(0.0, vmax):
        x = label_w + plot_w * value / vmax
        text = f"{value * 100:.4g}%" if percent else fmt(value, 3)
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 18}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle" fill="#555">{text}</text>'
        )
    for index, (label, row) in enumerate(groups):
        y = top + index * row_h
        short = label if len(label) <= 24 else label[:23] + "\u2026"
        body.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 2}" text-anchor="end">'
            f"<title>{_e(label)}</title>{_e(short)}</text>"
        )
        x, notes = float(label_w), []
        for key, name, color in series:
            value = max(0.0, as_number(row.get(key)) or 0.0)
            if not value > 0:
                continue
            w = plot_w * min(value, vmax) / vmax
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{_e(name)}</title></rect>"
            )
            x += w
            notes.append(f"{name} {value * 100:.3g}%" if percent else f"{name} {fmt(value)}")
        body.append(
            f'<text x="{x + 6:.1f}" y="{y + bar_h - 2}" fill="#333">'
            f"{_e(', '.join(notes) or ('0%' if percent else '0'))}</text>"
        )
    return _svg(width, height, title, body)


def line_chart(
    series: Sequence[tuple[str, str, Sequence]],
    title: str,
    x_label: str = "epoch",
    width: int = 720,
    height: int = 260,
) -> str:
    """Lines over 1..n; a non-finite or missing point is a red mark on the top edge, labelled.

    Args:
      series: `(legend name, colour, values)`; values are numbers or vocab's "NaN"/"Infinity".
    """
    left, right, top, bottom = 70, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(v) for _, _, v in series), default=0)
    finite = [
        x for _, _, vs in series for x in map(as_number, vs) if x is not None and math.isfinite(x)
    ]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    lo = min(lo, 0.0) if lo >= 0 and lo < 0.5 * hi else lo
    hi = hi if hi > lo else lo + 1.0
    step = nice_step(hi - lo)
    lo, hi = step * math.floor(lo / step + 1e-9), step * math.ceil(hi / step - 1e-9)

    def px(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    body = _legend([("", name, color) for name, color, _ in series], left, 16)
    for value in ticks(lo, hi):
        y = py(value)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
            f"{fmt(value, 3)}</text>"
        )
    step = max(1, math.ceil(n / 12))
    for i in range(0, n, step):
        body.append(
            f'<text x="{px(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'fill="#555">{i + 1}</text>'
        )
    body.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" fill="#555">'
        f"{_e(x_label)}</text>"
    )
    for name, color, values in series:
        points, marks = [], []
        for i, raw in enumerate(values):
            v = as_number(raw)
            if v is None or not math.isfinite(v):
                marks.append((i, raw))
                if len(points) > 1:
                    body.append(_polyline(points, color))
                points = []
                continue
            points.append((px(i), py(v)))
            body.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="2.5" fill="{color}"/>')
        if len(points) > 1:
            body.append(_polyline(points, color))
        for i, raw in marks:
            x = px(i)
            body.append(
                f'<path d="M{x - 5:.1f},{top - 2} L{x + 5:.1f},{top - 2} L{x:.1f},{top + 7} Z" '
                f'fill="{NONFINITE_COLOR}"><title>{_e(name)} at {i + 1}: {fmt(raw)}</title></path>'
                f'<text x="{x:.1f}" y="{top + 19}" text-anchor="middle" '
                f'fill="{NONFINITE_COLOR}" font-size="10px">{fmt(raw)}</text>'
            )
    body.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
    )
    return _svg(width, height, title, body)


def _polyline(points: list[tuple[float, float]], color: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'


def threshold_bar(value, lower=None, upper=None, title: str = "", width: int = 360) -> str:
    """A value in [0, 1] as a bar, with its lower/upper bounds as dark ticks."""
    left, plot_w, height = 10, width - 20, 34
    v = as_number(value)
    ok = v is not None and math.isfinite(v)
    lo, hi = as_number(lower), as_number(upper)
    bounds = [b for b in (lo, hi) if b is not None]
    passed = ok and (lo is None or v >= lo) and (hi is None or v <= hi)
    color = "#2e8b57" if passed else NONFINITE_COLOR
    w = plot_w * max(0.0, min(1.0, v)) if ok else 0
    body = [
        f'<rect x="{left}" y="6" width="{plot_w}" height="14" fill="#eee"/>',
        f'<rect x="{left}" y="6" width="{w:.1f}" height="14" fill="{color}"/>',
    ]
    for b in bounds:
        x = left + plot_w * max(0.0, min(1.0, b))
        body.append(
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="24" stroke="#222" stroke-width="2"/>'
            f'<text x="{x:.1f}" y="33" text-anchor="middle" font-size="10px">{fmt(b)}</text>'
        )
    return _svg(width, height, title, body)
