"""The NaN health report: one self-contained HTML page per run, from a dict of facts.

    html = render(facts)        # facts: `report_data.collect(...)`, or any dict of that shape
    write(facts, path)

Artifact-free: `render` reads no file and no ML Metadata, so it is tested on synthetic facts.
The page holds its own style and inline SVG charts (`report_svg`): no script, no font, no style
sheet is fetched, and it reads without JavaScript. Every string that comes from the data (feature
names, split names, messages, values) goes through `html.escape`, so a CSV header
`<img src=x onerror=alert(1)>` shows as text. NaN and Inf are shown as "NaN", "+Inf", "-Inf".

The facts (every key optional except `run_id`):
  run_id, generated; stages [{node, state, seconds, error}];
  outcome {status pushed|blocked|failed|unfinished, stage, blocked_by, reason, destination,
           version, violations [Violation.to_dict()], lines [Violation.line()], advice,
           cautions};
  violations {guard: [Violation.to_dict()]}; label_rows_left_out {split: rows};
  missing_spellings {column: {spelling: count}}; reading_notes [how the CSV was read: its
  dialect, row names left out, stray strings read as missing];
  guards {DataGuard: data_guard summary + profile {split: {rows, features}} +
          anomalies {split: [{feature, severity, short, description}]}, Transform: transform
          summary, Trainer: trainer summary + health (the health report), FinitePredictionGate:
          gate summary + report (gate_report.json)}, each with uri and from_failed_execution;
  evaluation {metrics [{name, value, lower, upper}], validation_ok, failures};
  served: the newest `nanguard monitor --run` result of the run (`report_served.py`);
  errors {section: why it could not be read}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nanguard.components.gate.summary import quality_text
from nanguard.pipelines.report_html import (
    RATE_SERIES,
    _compact,
    _e,
    _kv,
    _missing,
    _section,
    _table,
)
from nanguard.pipelines.report_model import _evaluation, _training
from nanguard.pipelines.report_served import served
from nanguard.pipelines.report_svg import fmt, stacked_bars

SECTIONS = ("outcome", "data", "transform", "training", "evaluation")
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
 margin:0 auto;max-width:1100px;padding:16px 24px;color:#222;line-height:1.4;font-size:15px}
h1{font-size:24px;margin:4px 0}h2{font-size:19px;border-bottom:2px solid #ddd;padding-bottom:4px;
 margin-top:28px}h3{font-size:16px;margin:16px 0 6px}
.meta{color:#555;font-size:13px}.banner{padding:12px 16px;border-radius:6px;margin:12px 0;
 font-size:16px}.pushed{background:#e6f4ea;border:2px solid #2e8b57}
.blocked,.failed{background:#fdecea;border:2px solid #c0392b}.unfinished{background:#fff4e0;
 border:2px solid #e67e22}.banner b{font-size:19px}
table{border-collapse:collapse;margin:6px 0;font-size:13.5px}th,td{border:1px solid #ddd;
 padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.stages span{display:inline-block;margin:2px 3px;padding:2px 8px;border-radius:10px;
 font-size:12.5px;border:1px solid #bbb}.COMPLETE{background:#e6f4ea}.FAILED{background:#f5b7b1}
.CACHED{background:#eef}.bad{color:#c0392b;font-weight:600}.ok{color:#2e8b57;font-weight:600}
.note{color:#555;font-size:13px}code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;
 font-size:12.5px}pre{white-space:pre-wrap;background:#f7f7f7;padding:6px;margin:4px 0}
.kv td:first-child{color:#555}.fix{color:#1a5276}svg{display:block;margin:6px 0}
"""


def _outcome(facts: Mapping[str, Any]) -> str:
    o = facts.get("outcome") or {"status": "unfinished", "reason": "no outcome recorded"}
    status = o.get("status", "unfinished")
    if status == "pushed":
        head = (
            f"<b>PUSHED</b>: model version {_e(o.get('version') or '?')} pushed to "
            f"<code>{_e(o.get('destination', ''))}</code>"
        )
    elif status in ("blocked", "failed"):
        by = o.get("blocked_by") or o.get("stage") or "?"
        head = f"<b>{_e(status.upper())}</b> by {_e(by)}: nothing was pushed"
    else:
        head = f"<b>{_e(status.upper())}</b>"
    parts = [f'<div class="banner {_e(status)}">{head}</div>']
    if o.get("violations"):  # one item per violation: what was found, then its fix
        items = "".join(
            f"<li>{_e(v.get('message', ''))}"
            + (f'<br><span class="fix">What to change: {_e(fix)}</span>' if fix else "")
            + "</li>"
            for v, fix in zip(o["violations"], o["fixes"], strict=True)
        )
        parts.append(f"<h3>Why</h3><ul>{items}</ul>")
    elif o.get("reason"):
        reason = o["reason"]
        gate = (facts.get("guards") or {}).get("FinitePredictionGate") or {}
        if status == "pushed" and (quality := quality_text(gate)):
            reason += f"; quality over the labelled eval rows: {quality}"
        parts.append(f"<h3>Why</h3><pre>{_e(reason)}</pre>")
    advice = [a for a in o.get("advice") or [] if str(a).strip()]
    if advice:
        items = "".join(f"<li>{_e(a)}</li>" for a in advice)
        parts.append(f"<h3>What else to try</h3><ul>{items}</ul>")
    if cautions := o.get("cautions"):  # in view; "How the data was read" does not repeat them
        items = "".join(f"<li>{_e(c)}</li>" for c in cautions)
        parts.append(f"<h3>Notes on the table</h3><ul>{items}</ul>")
    stages = "".join(
        f'<span class="{_e(s.get("state", ""))}" title="{_e(s.get("state", ""))}">'
        f"{_e(s.get('node', ''))} {_e(s.get('state', '').lower())}"
        + (f" {s['seconds']:.0f}s" if isinstance(s.get("seconds"), int | float) else "")
        + "</span>"
        for s in facts.get("stages") or []
    )
    if stages:
        parts.append(f'<div class="stages">Stages: {stages}</div>')
    return _section("outcome", "Outcome", "".join(parts))


def _policy(policy: Mapping[str, Any]) -> str:
    """The guard's settings, folded, one per line under the config keys that set them."""
    if not policy:
        return ""
    rows = [
        f"<li><code>{_e(key)}: {_e(_compact(value))}</code></li>"
        for key, value in _dotted(policy, "data_guard")
    ]
    count = f"{len(rows)} setting{'' if len(rows) == 1 else 's'}"
    return f"<details><summary>Policy: {count}</summary><ul>{''.join(rows)}</ul></details>"


def _dotted(values: Mapping[str, Any], prefix: str):
    for key, value in sorted(values.items()):
        if isinstance(value, Mapping) and value:
            yield from _dotted(value, f"{prefix}.{key}")
        else:
            yield f"{prefix}.{key}", value


def _data(facts: Mapping[str, Any]) -> str:
    g = (facts.get("guards") or {}).get("DataGuard")
    title = "Data profile (DataGuard)"
    if not g:
        return _section("data", title, _missing(facts, "DataGuard", "The data guard"))
    verdict = (
        '<span class="ok">pass</span>'
        if g.get("blessed")
        else f'<span class="bad">{_e(g.get("violations", "?"))} violation(s)</span>'
    )
    parts = [
        f"<p>Verdict: {verdict}. {_e(g.get('rows', '?'))} rows; "
        f"label <code>{_e(g.get('label_key') or '(none)')}</code></p>",
        _policy(g.get("policy") or {}),
    ]
    if g.get("from_failed_execution"):
        parts.append(
            '<p class="note">Read from the files the guard wrote before it stopped the run: '
            f"<code>{_e(g.get('uri', ''))}</code></p>"
        )
    # train first (what the model learns from), then eval, then any other split by name
    order = {"train": 0, "eval": 1}
    profiles = (g.get("profile") or {}).items()
    for split, profile in sorted(profiles, key=lambda item: (order.get(item[0], 2), item[0])):
        rows = profile.get("rows") or 0
        features = profile.get("features") or {}
        groups = [
            (name, {k: (f.get(k, 0) or 0) / rows if rows else 0 for k, _, _ in RATE_SERIES})
            for name, f in sorted(features.items())
        ]
        parts.append(f"<h3>Split {_e(split)}: {_e(rows)} rows</h3>")
        parts.append(
            stacked_bars(groups, RATE_SERIES, f"Missing, NaN, Inf and huge rates in {split}")
        )
        table = [
            [name, *[f.get(k, 0) for k, _, _ in RATE_SERIES], f.get("type", "")]
            for name, f in sorted(features.items())
        ]
        parts.append(
            _table(["feature", *[n for _, n, _ in RATE_SERIES], "type"], table, set(range(1, 6)))
        )
    parts.append(_left_out(facts))
    violations = (facts.get("violations") or {}).get("DataGuard") or []
    if violations:
        parts.append("<h3>Violations</h3>")
        parts.append(
            _table(
                ["split", "feature", "kind", "severity", "observed", "limit", "message", "key",
                 "would pass"],
                [[v.get("split", ""), v.get("feature", ""), v.get("kind", ""),
                  (v.get("details") or {}).get("severity", "block"), _compact(v.get("observed")),
                  _compact(v.get("limit")), v.get("message", ""), v.get("key", ""),
                  "" if v.get("passing_value") is None else _compact(v.get("passing_value"))]
                 for v in violations],
            )
        )  # fmt: skip
    parts.append(_history(facts.get("history") or []))
    anomalies = [(s, a) for s, items in sorted((g.get("anomalies") or {}).items()) for a in items]
    if anomalies:
        parts.append("<h3>Anomalies (TFDV proto)</h3>")
        parts.append(
            _table(
                ["split", "feature", "severity", "anomaly"],
                [
                    [s, a.get("feature"), a.get("severity"), a.get("description") or a.get("short")]
                    for s, a in anomalies
                ],
            )
        )
    return _section("data", title, "".join(parts))


def _left_out(facts: Mapping[str, Any]) -> str:
    """How the CSV was read (staging's notes), rows left out for a missing label per split, and
    the spellings read as missing."""
    parts = []
    shown = set((facts.get("outcome") or {}).get("cautions") or [])  # under the outcome
    notes = [note for note in facts.get("reading_notes") or [] if note not in shown]
    if notes:
        parts.append("<h3>How the data was read</h3><ul>")
        parts.extend(f"<li>{_e(note)}</li>" for note in notes)
        if shown:
            parts.append("<li>and the notes on the table, under the outcome</li>")
        parts.append("</ul>")
    left_out = facts.get("label_rows_left_out") or {}
    if any(left_out.values()):
        parts.append("<h3>Rows without a label, left out</h3>")
        parts.append(_table(["split", "rows"], sorted(left_out.items()), {1}))
    spellings = facts.get("missing_spellings") or {}
    rows = [
        [column, spelling or "(empty cell)", count]
        for column, found in sorted(spellings.items())
        for spelling, count in sorted(found.items())
    ]
    if rows:
        parts.append("<h3>Cells read as missing, per column and spelling</h3>")
        parts.append(_table(["column", "spelling", "cells"], rows, {2}))
    return "".join(parts)


def _history(history: list[Mapping[str, Any]], split: str = "train") -> str:
    """Each feature's rates in `split` across the recorded runs (oldest first), as a table."""
    runs = [h for h in history if h.get("splits", {}).get(split)]
    if len(runs) < 2:
        return ""
    features = sorted({f for h in runs for f in h["splits"][split]})
    from nanguard.pipelines.history import rate_texts

    rows = []
    for name in features:
        cells = []
        for h in runs:
            r = h["splits"][split].get(name)
            cells.append(" / ".join(rate_texts(r)) if r else "n/a")
        rows.append([name, *cells])
    header = ["feature", *[f"{h['run']} ({h.get('outcome') or '?'})" for h in runs]]
    return f"<h3>Rates across runs, split {_e(split)} (missing / NaN / +Inf / -Inf)</h3>" + _table(
        header, rows
    )


_SCALING = (("center", "center"), ("scale_factor", "factor"))


def _scaling(f: Mapping[str, Any]) -> str:
    """`zscore: center 43.9, factor 5.46`, from the record's scaling parameters."""
    if "scale" not in f:
        return ""
    params = [f"{label} {fmt(f[key])}" for key, label in _SCALING if key in f]
    text = _compact(f["scale"])
    return f"{text}: {', '.join(params)}" if params else text


def _bounds(f: Mapping[str, Any]) -> str:
    """The safe output range, and the input clip of `clip_quantiles` when set."""
    parts = []
    if "clip_low" in f and "clip_high" in f:
        parts.append(f"input [{fmt(f['clip_low'])}, {fmt(f['clip_high'])}]")
    if "output_low" in f and "output_high" in f:
        parts.append(f"output [{fmt(f['output_low'])}, {fmt(f['output_high'])}]")
    return "; ".join(parts)


def _transform(facts: Mapping[str, Any]) -> str:
    t = (facts.get("guards") or {}).get("Transform")
    title = "Transform: what each feature became"
    if not t or not t.get("features"):
        return _section("transform", title, _missing(facts, "Transform", "The transform"))
    rows = [
        [
            name,
            f.get("kind", ""),
            f.get("strategy", ""),
            f.get("chosen", "") or "",
            f.get("reason", "") or "",
            fmt(f["fill_value"]) if "fill_value" in f else "",
            _scaling(f),
            _bounds(f),
            "yes" if f.get("add_indicator") else "",
            f.get("warning", "") or "",
        ]
        for name, f in sorted(t["features"].items())
    ]
    header = [
        "feature",
        "kind",
        "strategy",
        "chosen",
        "why",
        "fill value",
        "scaling (x - center) / factor",
        "clipped to",
        "indicator",
        "warning",
    ]
    return _section("transform", title, _table(header, rows))


def render(facts: Mapping[str, Any]) -> str:
    """The whole page as one HTML string (escaped, self-contained, no script)."""
    run_id = facts.get("run_id", "?")
    errors = facts.get("errors") or {}
    shown = {"DataGuard", "Transform", "Trainer", "FinitePredictionGate", "Evaluator"}
    extra = {k: v for k, v in errors.items() if k not in shown}
    body = [
        f"<h1>nanguard NaN health report</h1><p class=meta>Run <code>{_e(run_id)}</code>"
        f" &middot; generated {_e(facts.get('generated', ''))}</p>",
        _outcome(facts),
        _data(facts),
        _transform(facts),
        _training(facts),
        _evaluation(facts),
        served(facts),
    ]
    if extra:
        body.append(_section("errors", "Not readable", _kv(sorted(extra.items()))))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>nanguard report {_e(run_id)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write(facts: Mapping[str, Any], path: str) -> str:
    """Writes `render(facts)` to `path` (creating its folder); returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(facts))
    return path
