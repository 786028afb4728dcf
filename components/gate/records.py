"""JSON-safe views of tf.Examples and prediction values (for the gate's lineage report)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf


def jsonable(value: Any) -> Any:
    """Converts numpy values and non-finite floats to strict-JSON values.

    NaN becomes the string ``"nan"``, +Inf ``"inf"`` and -Inf ``"-inf"`` (strict JSON has no
    such numbers); bytes are decoded as UTF-8 (with replacement).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def example_to_dict(serialized: bytes) -> dict[str, list[Any]]:
    """Decodes one serialized tf.Example into feature name -> list of values (JSON-safe).

    NaN and Inf feature values become the strings ``"nan"``, ``"inf"``, ``"-inf"``; a feature
    present with no value is an empty list.
    """
    example = tf.train.Example.FromString(serialized)
    out: dict[str, list[Any]] = {}
    for name, feature in sorted(example.features.feature.items()):
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[name] = jsonable(values)
    return out
