"""The report's "Served traffic" section: the newest `nanguard monitor --run` result of the run
(`serving_guard/results.py`), shown only when there is one.

Per feature, the served missing/NaN/+Inf/-Inf/wrong-type/repaired rates next to the training
split's, as bars and a table; the predictions' non-finite count and the model's own flags;
the violations. Rates over zero values are shown as "-"; NaN never enters a rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nanguard.pipelines.report_html import RATE_SERIES, _e, _section, _table
from nanguard.pipelines.report_svg import stacked_bars

# The data profile's missing/NaN/Inf colours; wrong type takes huge's place.
SERVED_SERIES = (*RATE_SERIES[:4], ("wrong_type", "wrong type", RATE_SERIES[4][2]))
_RATES = (*(k for k, _, _ in SERVED_SERIES), "repaired")


def _pct(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.2%}"


def served(facts: Mapping[str, Any]) -> str:
    """The section's HTML, or '' when the run has no monitor result."""
    s = facts.get("served")
    if not s:
        return ""
    p = s.get("predictions") or {}
    verdict = (
        '<span class="ok">within the training rates, every prediction finite</span>'
        if s.get("ok")
        else f'<span class="bad">{_e(len(s.get("violations") or []))} violation(s)</span>'
    )
    reference = s.get("reference") or {}
    parts = [
        f"<p>Verdict: {verdict}. {_e(s.get('requests', 0))} requests, "
        f"{_e(s.get('examples', 0))} examples ({_e(s.get('skipped', 0))} log records of "
        f"another kind skipped); compared with split <code>{_e(reference.get('split', ''))}"
        f"</code> ({_e(reference.get('rows', '?'))} rows). Non-finite predictions: "
        f'<span class="{"bad" if p.get("non_finite") else "ok"}">{_e(p.get("non_finite", 0))}'
        f"</span> of {_e(p.get('examples', 0))} answered examples (NaN values "
        f"{_e(p.get('nan', 0))}, +Inf {_e(p.get('pos_inf', 0))}, -Inf "
        f"{_e(p.get('neg_inf', 0))}).</p>"
    ]
    if p.get("flagged") or p.get("repaired_flagged"):
        parts.append(
            f"<p>The model's flags: nanguard_finite false on {_e(p.get('flagged_not_finite', 0))}"
            f" of {_e(p.get('flagged', 0))}; nanguard_repaired &gt; 0 on "
            f"{_e(p.get('repaired_examples', 0))} of {_e(p.get('repaired_flagged', 0))} "
            f"({_e(p.get('repaired_values', 0))} values repaired).</p>"
        )
    features = s.get("features") or {}
    groups = [
        (name, {k: f.get("rates", {}).get(k) or 0 for k, _, _ in SERVED_SERIES})
        for name, f in sorted(features.items())
    ]
    if groups:
        parts.append(stacked_bars(groups, SERVED_SERIES, "Served missing, NaN, Inf rates"))
    rows = [
        [name]
        + [
            f"{_pct(f.get('rates', {}).get(r))} ({_pct(f.get('train_rates', {}).get(r))})"
            for r in _RATES
        ]
        for name, f in sorted(features.items())
    ]
    heads = ["feature", "missing", "NaN", "+Inf", "-Inf", "wrong type", "repaired"]
    parts.append("<h3>Served rate (training rate)</h3>" + _table(heads, rows, set(range(1, 7))))
    parts.append(
        '<p class="note">missing and repaired: of examples; NaN, Inf and wrong type: of the '
        "values present. Rule: the data guard's drift rule against the training split.</p>"
    )
    violations = s.get("violations") or []
    if violations:
        parts.append("<h3>Violations</h3>")
        parts.append(
            _table(
                ["feature", "kind", "message"],
                [[v.get(k, "") for k in ("feature", "kind", "message")] for v in violations],
            )
        )
    if s.get("path"):
        parts.append(f'<p class="note">From <code>{_e(s["path"])}</code></p>')
    return _section("served", "Served traffic (nanguard monitor)", "".join(parts))
