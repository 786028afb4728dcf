"""What the transform did, read back from its TransformGraph artifact (for the run summary/report).

Reads `<transform_graph uri>/nanguard_transform_record.json` (written by this component's
executor, see `components/transform_record.py`), not ML Metadata, so it works for any
orchestrator. Imports nothing heavy: TensorFlow's `tf.io.gfile` only for a URI with a scheme
(gs://, s3://, ...).
"""

from __future__ import annotations

import json
import os
from typing import Any

from nanguard.components.transform.spec import RECORD_FILENAME

# Per-feature facts a summary keeps from the record (as written: non-finite numbers stay
# vocab's strings "NaN"/"Infinity"/"-Infinity", so the summary is strict JSON too).
_KEYS = (
    "kind",
    "strategy",
    "chosen",
    "reason",
    "fill_value",
    "scale",
    "center",
    "scale_factor",
    "clip_low",
    "clip_high",
    "output_low",
    "output_high",
    "add_indicator",
    "warning",
)


def _read_text(path: str) -> str | None:
    if "://" in path:
        import tensorflow as tf  # noqa: PLC0415 (only for remote file systems)

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def summarize(uri: str) -> dict[str, Any]:
    """Per feature: the strategy requested and chosen and why, fill value, scaling parameters,
    clipping bounds, indicator, warning.

    Args:
      uri: the TransformGraph artifact's URI (the folder holding `transform_fn/`).

    Returns:
      `{"record": path, "features": {name: {kind, strategy, chosen, reason, fill_value, scale,
      center, scale_factor, clip_low, clip_high, output_low, output_high, add_indicator,
      warning}}, "warnings": {name: text}}`, JSON-able; a key the record does not hold for a
      feature is left out (a string feature has no `scale`; `reason` only for `auto`;
      `clip_low`/`clip_high` only with `clip_quantiles`). `output_low`/`output_high` are the
      safe range every transformed value is clipped to. `{}` when the artifact
      holds no nanguard record (e.g. the stock Transform component produced it).
    """
    path = os.path.join(uri, RECORD_FILENAME)
    text = _read_text(path)
    if text is None:
        return {}
    record = json.loads(text)
    features = {}
    for name, entry in sorted((record.get("features") or {}).items()):
        features[name] = {k: entry[k] for k in _KEYS if k in entry}
    warnings = {name: f["warning"] for name, f in features.items() if f.get("warning")}
    return {"record": path, "features": features, "warnings": warnings}


def summary_line(summary: dict[str, Any]) -> str:
    """One console line: `imputation: body_mass_g=mean, island=most_frequent, ...`.

    Each feature shows the strategy chosen (for `auto`: mean or median), else the one requested.
    """
    if not summary:
        return "no nanguard transform record"
    chosen = ", ".join(
        f"{name}={f.get('chosen') or f.get('strategy')}"
        for name, f in sorted(summary.get("features", {}).items())
    )
    return f"imputation: {chosen}"
