"""The report's model sections: training health (Trainer) and evaluation (Evaluator, gate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nanguard.pipelines.report_html import _compact, _e, _kv, _missing, _section, _table
from nanguard.pipelines.report_svg import fmt, line_chart, stacked_bars, threshold_bar

COUNT_SERIES = (
    ("nan", "NaN", "#c0392b"),
    ("pos_inf", "+Inf", "#e67e22"),
    ("neg_inf", "-Inf", "#8e44ad"),
)


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
            ["examples", "non-finite", "NaN", "+Inf", "-Inf", "probes run", "probes failed",
             "probes rejected"],
            [[g.get("examples"), g.get("non_finite"), g.get("nan"), g.get("pos_inf"),
              g.get("neg_inf"), g.get("probes_run"), len(g.get("probes_failed") or []),
              len(g.get("probes_rejected") or [])]],
            set(range(8)),
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
