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
  outcome {status pushed|blocked|failed|unfinished, stage, reason, destination, version, advice};
  guards {DataGuard: data_guard summary + profile {split: {rows, features, violations}} +
          anomalies {split: [{feature, severity, short, description}]}, Transform: transform
          summary, Trainer: trainer summary + health (the health report), FinitePredictionGate:
          gate summary + report (gate_report.json)}, each with uri and from_failed_execution;
  evaluation {metrics [{name, value, lower, upper}], validation_ok, failures};
  errors {section: why it could not be read}.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from html import escape
from typing import Any

from nanguard.pipelines.report_svg import fmt, line_chart, stacked_bars, threshold_bar

SECTIONS = ("outcome", "data", "transform", "training", "evaluation")
RATE_SERIES = (
    ("missing", "missing", "#7f8c8d"),
    ("nan", "NaN", "#c0392b"),
    ("pos_inf", "+Inf", "#e67e22"),
    ("neg_inf", "-Inf", "#8e44ad"),
    ("huge", "huge", "#2980b9"),
)
COUNT_SERIES = (
    ("nan", "NaN", "#c0392b"),
    ("pos_inf", "+Inf", "#e67e22"),
    ("neg_inf", "-Inf", "#8e44ad"),
)
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
.kv td:first-child{color:#555}svg{display:block;margin:6px 0}
"""


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


def _outcome(facts: Mapping[str, Any]) -> str:
    o = facts.get("outcome") or {"status": "unfinished", "reason": "no outcome recorded"}
    status = o.get("status", "unfinished")
    if status == "pushed":
        head = (
            f"<b>PUSHED</b>: model version {_e(o.get('version') or '?')} pushed to "
            f"<code>{_e(o.get('destination', ''))}</code>"
        )
    elif status in ("blocked", "failed"):
        head = f"<b>{_e(status.upper())}</b> by {_e(o.get('stage') or '?')}: nothing was pushed"
    else:
        head = f"<b>{_e(status.upper())}</b>"
    parts = [f'<div class="banner {_e(status)}">{head}</div>']
    if o.get("reason"):
        parts.append(f"<h3>Why</h3><pre>{_e(o['reason'])}</pre>")
    if o.get("advice"):
        items = "".join(f"<li>{_e(a)}</li>" for a in o["advice"])
        parts.append(f"<h3>What to change</h3><ul>{items}</ul>")
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


def _missing(facts: Mapping[str, Any], node: str, what: str) -> str:
    error = (facts.get("errors") or {}).get(node)
    text = f"Not available: {error}" if error else f"{what} did not run in this run."
    return f'<p class="note">{_e(text)}</p>'


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
        f"label <code>{_e(g.get('label_key') or '(none)')}</code>; policy "
        f"<code>{_e(_compact(g.get('policy', {})))}</code></p>"
    ]
    if g.get("from_failed_execution"):
        parts.append(
            '<p class="note">Read from the files the guard wrote before it stopped the run: '
            f"<code>{_e(g.get('uri', ''))}</code></p>"
        )
    for split, profile in sorted((g.get("profile") or {}).items()):
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
    violations = [v for p in (g.get("profile") or {}).values() for v in p.get("violations", [])]
    if violations:
        parts.append("<h3>Violations</h3>")
        parts.append(
            _table(
                ["split", "feature", "kind", "count", "message"],
                [
                    [v.get(k, "") for k in ("split", "feature", "kind", "count", "message")]
                    for v in violations
                ],
            )
        )
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


def _early(early: Mapping[str, Any] | None) -> str | None:
    if not early:
        return None
    epoch = int(early.get("best_epoch", 0)) + 1
    best = f"best epoch {epoch}, val_loss {fmt(early.get('best_val_loss'))}"
    return f"{'stopped' if early.get('stopped') else 'not needed'} ({best})"


def _training(facts: Mapping[str, Any]) -> str:
    t = (facts.get("guards") or {}).get("Trainer")
    title = "Training health (Trainer)"
    if not t:
        return _section("training", title, _missing(facts, "Trainer", "The trainer"))
    health = t.get("health") or {}
    status = t.get("status", "?")
    css = "ok" if status in ("ok", "recovered") else "bad"
    parts = [
        f'<p>Status: <span class="{css}">{_e(status)}</span>; '
        f"{_e(t.get('epochs', 0))} epoch(s), {_e(t.get('steps', 0))} step(s), final loss "
        f"{_e(fmt(t.get('final_loss')))}, {_e(t.get('nonfinite_events', 0))} non-finite "
        f"event(s), {_e(t.get('recoveries', 0))} recovery(ies); exported: "
        f"{_e(t.get('exported'))}</p>"
    ]
    epochs = health.get("epochs") or []
    lines = [("loss", "#2c3e50", [e.get("loss") for e in epochs])]
    if any("val_loss" in e for e in epochs):
        lines.append(("validation loss", "#e67e22", [e.get("val_loss") for e in epochs]))
    if epochs:
        parts.append("<h3>Loss per epoch</h3>" + line_chart(lines, "Loss per epoch"))
    norm_key = next((k for e in epochs for k in e if "grad_norm" in k), None)
    if norm_key:
        norms = [e.get(norm_key) for e in epochs]
        parts.append(
            "<h3>Largest gradient norm per epoch</h3>"
            + line_chart([("gradient norm", "#8e44ad", norms)], "Largest gradient norm per epoch")
        )
    parts.append(
        _kv(
            [
                ("largest gradient norm (whole run)", fmt(health.get("max_grad_norm"))),
                ("policy", health.get("policy", "")),
                ("learning rate", f"{fmt(health.get('initial_learning_rate'))} -> "
                 f"{fmt(health.get('final_learning_rate'))}"
                 if "initial_learning_rate" in health else None),
                ("snapshots", health.get("snapshots", "")),
                ("examples trained (all epochs)", health.get("examples")),
                ("early stopping on the evaluation loss", _early(health.get("early_stopping"))),
                ("stopped by the guard", health.get("stopped_early", "")),
            ]
        )
    )  # fmt: skip
    events = health.get("nonfinite_events") or []
    if events:
        rows = []
        for ev in events:
            d = ev.get("diagnosis") or {}
            inputs = ", ".join(str(x.get("feature")) for x in d.get("extreme_inputs") or [])
            where = f"{d.get('stage', '')} / layer {d.get('layer', '')} / op {d.get('op', '')}"
            rows.append(
                [ev.get("step"), ev.get("epoch"), ev.get("nonfinite_steps"),
                 ev.get("action", ""), fmt(ev.get("learning_rate")), where, inputs or "none"]
            )  # fmt: skip
        parts.append("<h3>Non-finite events and diagnosis</h3>")
        parts.append(
            _table(
                ["step", "epoch", "bad steps", "action", "learning rate", "first NaN/Inf at",
                 "extreme inputs"],
                rows, {0, 1, 2},
            )
        )  # fmt: skip
    changes = health.get("lr_changes") or []
    if changes:
        parts.append("<h3>Recoveries</h3>")
        parts.append(
            _table(
                ["step", "epoch", "learning rate from", "to"],
                [
                    [c.get("step"), c.get("epoch"), fmt(c.get("from")), fmt(c.get("to"))]
                    for c in changes
                ],
            )
        )
    if health.get("nonfinite_weights_at_export"):
        parts.append("<h3>Non-finite weights at export</h3>")
        parts.append(
            _table(
                ["layer", "variable", "NaN", "Inf"],
                [[w.get("layer"), w.get("variable"), w.get("nan"), w.get("inf")]
                 for w in health["nonfinite_weights_at_export"]],
            )
        )  # fmt: skip
    return _section("training", title, "".join(parts))


def _evaluation(facts: Mapping[str, Any]) -> str:
    parts = ["<h3>Evaluator (TFMA)</h3>"]
    ev = facts.get("evaluation")
    if ev:
        verdict = "ok>passed" if ev.get("validation_ok") else "bad>failed"
        parts.append(f"<p>Validation: <span class={verdict}</span></p>")
        rows = []
        for m in ev.get("metrics") or []:
            bounds = " ".join(
                f"{label} {fmt(m[k])}"
                for k, label in (("lower", ">="), ("upper", "<="))
                if m.get(k) is not None
            )
            rows.append(
                f"<tr><td>{_e(m.get('name'))}</td><td class=num>{_e(fmt(m.get('value')))}</td>"
                f"<td>{_e(bounds)}</td><td>{_bar(m)}</td></tr>"
            )
        parts.append(
            "<table><tr><th>metric</th><th>value</th><th>threshold</th><th></th></tr>"
            + "".join(rows) + "</table>"
        )  # fmt: skip
        if ev.get("failures"):
            parts.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in ev["failures"]) + "</ul>")
    else:
        parts.append(_missing(facts, "Evaluator", "The Evaluator"))
    parts.append("<h3>Finite-prediction gate</h3>")
    g = (facts.get("guards") or {}).get("FinitePredictionGate")
    if not g:
        parts.append(_missing(facts, "FinitePredictionGate", "The gate"))
        return _section("evaluation", "Evaluation", "".join(parts))
    verdict = (
        '<span class="ok">blessed</span>'
        if g.get("blessed")
        else f'<span class="bad">NOT blessed</span>: {_e("; ".join(g.get("reasons") or []))}'
    )
    parts.append(f"<p>Verdict: {verdict}</p>")
    parts.append(
        _table(
            ["examples", "non-finite", "NaN", "+Inf", "-Inf", "probes run", "probes failed"],
            [[g.get("examples"), g.get("non_finite"), g.get("nan"), g.get("pos_inf"),
              g.get("neg_inf"), g.get("probes_run"), len(g.get("probes_failed") or [])]],
            set(range(7)),
        )
    )  # fmt: skip
    outputs = g.get("outputs") or {}
    if g.get("non_finite") and outputs:
        groups = [(name, counts) for name, counts in sorted(outputs.items())]
        parts.append(
            stacked_bars(groups, COUNT_SERIES, "Non-finite predictions per output", percent=False)
        )
    report = g.get("report") or {}
    failures = report.get("probe_failures") or []
    if failures:
        parts.append("<h3>Failed probes</h3>")
        parts.append(
            _table(
                ["probe", "family", "feature", "status", "request", "outputs / error"],
                [[p.get("probe"), p.get("family"), p.get("feature"), p.get("status"),
                  _compact(p.get("request")), p.get("error") or _compact(p.get("outputs"))]
                 for p in failures],
            )
        )  # fmt: skip
    offending = report.get("offending_examples") or []
    if offending:
        parts.append("<h3>First offending examples</h3>")
        parts.append(
            _table(
                ["split", "non-finite outputs", "features", "outputs"],
                [[o.get("split"), ", ".join(map(str, o.get("non_finite_outputs") or [])),
                  _compact(o.get("features")), _compact(o.get("outputs"))] for o in offending],
            )
        )  # fmt: skip
    return _section("evaluation", "Evaluation", "".join(parts))


def _bar(metric: Mapping[str, Any]) -> str:
    """A threshold bar for a metric in [0, 1] with a bound (e.g. accuracy); else nothing."""
    value = metric.get("value")
    if (
        not isinstance(value, int | float)
        or not 0 <= value <= 1
        or "count" in metric.get("name", "")
    ):
        return ""
    return threshold_bar(
        value, metric.get("lower"), metric.get("upper"), metric.get("name", ""), 240
    )


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
