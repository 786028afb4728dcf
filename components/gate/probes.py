"""Hostile probes: requests a model must still answer with finite predictions.

A probe is one tf.Example built from a *base row* of typical values (median, else mean, of
numeric features; most frequent value of string features; see ``profiles.py``) with one
feature changed:

* ``missing``: the feature is absent from the request;
* ``nan`` / ``pos_inf`` / ``neg_inf``: a float feature set to NaN / +Inf / -Inf (integer and
  string features cannot hold them, so they get no such probe);
* ``out_of_range``: a numeric feature set to 1000x the largest magnitude seen (observed max/min
  from the statistics, else the schema domain, else 1), clipped to the float32 / int64 range;
* ``all_missing``: one request with every feature absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from nanguard.components import vocab
from nanguard.components.gate.config import PROBE_FAMILIES
from nanguard.components.gate.profiles import FeatureProfile
from nanguard.components.gate.records import example_to_dict

OUT_OF_RANGE_FACTOR = 1000.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)


def _set_feature(example: tf.train.Example, profile: FeatureProfile, value: Any) -> None:
    feature = example.features.feature[profile.name]
    if profile.kind == "float":
        feature.float_list.value[:] = [float(value)]
    elif profile.kind == "int":
        feature.int64_list.value[:] = [int(value)]
    else:
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        feature.bytes_list.value[:] = [data]


def base_example(profiles: Sequence[FeatureProfile]) -> tf.train.Example:
    """Returns the base-row tf.Example (typical value of every feature that has one)."""
    example = tf.train.Example()
    for profile in profiles:
        if profile.typical is not None:
            _set_feature(example, profile, profile.typical)
    return example


def _out_of_range_value(profile: FeatureProfile) -> float | int:
    magnitude = OUT_OF_RANGE_FACTOR * (profile.max_abs if profile.max_abs else 1.0)
    if profile.kind == "int":
        return int(min(magnitude, _INT64_MAX))
    return min(magnitude, _FLOAT32_MAX)


@dataclasses.dataclass(frozen=True)
class Probe:
    """One hostile request.

    Attributes:
        name: ``'<family>:<feature>'`` (``'all_missing'`` for the all-missing probe, ``'base'``
            for the base row).
        family: Probe family (one of ``PROBE_FAMILIES`` or ``'base'``).
        feature: The feature changed ('' for base and all_missing).
        example: The request.
    """

    name: str
    family: str
    feature: str
    example: tf.train.Example


def build_probes(
    profiles: Sequence[FeatureProfile], families: Sequence[str] = PROBE_FAMILIES
) -> list[Probe]:
    """Builds the probes of the given families (plus the base row itself).

    Args:
        profiles: Feature profiles (see :func:`profiles_from_schema`, :func:`profiles_from_table`).
        families: Families to build (names from ``PROBE_FAMILIES``, as ``GateConfig`` checks
            them; an unknown name builds nothing).

    Returns:
        Probes in a stable order: base row, then per feature missing, nan, pos_inf, neg_inf,
        out_of_range (the families that apply to its type), then all_missing. NaN/Inf probes
        are built only for float features.
    """
    if not families:
        return []
    base = base_example(profiles)
    probes = [Probe("base", "base", "", base)]
    special = {"nan": float("nan"), "pos_inf": float("inf"), "neg_inf": float("-inf")}
    for profile in profiles:
        for family in ("missing", "nan", "pos_inf", "neg_inf", "out_of_range"):
            if family not in families:
                continue
            if family in special and profile.kind != "float":
                continue
            if family == "out_of_range" and profile.kind == "bytes":
                continue
            example = tf.train.Example()
            example.CopyFrom(base)
            if family == "missing":
                if profile.name in example.features.feature:
                    del example.features.feature[profile.name]
            elif family in special:
                _set_feature(example, profile, special[family])
            else:
                _set_feature(example, profile, _out_of_range_value(profile))
            probes.append(Probe(f"{family}:{profile.name}", family, profile.name, example))
    if "all_missing" in families:
        probes.append(Probe("all_missing", "all_missing", "", tf.train.Example()))
    return probes


def _probe_result(probe: Probe, status: str, outputs=None, error: str | None = None) -> dict:
    result = {
        "probe": probe.name,
        "family": probe.family,
        "feature": probe.feature,
        "status": status,
        "request": example_to_dict(probe.example.SerializeToString()),
    }
    if outputs is not None:
        result["outputs"] = vocab.jsonable(outputs)
        result["non_finite_outputs"] = sorted(
            name
            for name, value in outputs.items()
            if np.issubdtype(np.asarray(value).dtype, np.floating)
            and not np.all(np.isfinite(value))
        )
    if error is not None:
        result["error"] = error
    return result


def run_probes(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]], probes: Sequence[Probe]
) -> list[dict[str, Any]]:
    """Runs every probe through ``predict`` and classifies the answers.

    All probes go in one batch; if that batch raises, each probe is re-run alone so that the
    failing ones are named.

    Args:
        predict: Callable taking a batch of serialized tf.Examples and returning output arrays
            (e.g. ``signature.ModelSignature``).
        probes: The probes.

    Returns:
        One dict per probe: ``probe``, ``family``, ``feature``, ``status`` (``'ok'``,
        ``'non_finite'`` when any output value is NaN/+Inf/-Inf, or ``'error'`` when the
        signature raised), ``request``, ``outputs``/``non_finite_outputs`` or ``error``.
    """
    if not probes:
        return []
    serialized = [p.example.SerializeToString() for p in probes]
    try:
        outputs = predict(serialized)
        per_probe = [{k: np.asarray(v)[i] for k, v in outputs.items()} for i in range(len(probes))]
    except Exception:  # noqa: BLE001 -- re-run one by one to name the failing probe
        per_probe = []
        for record in serialized:
            try:
                single = predict([record])
                per_probe.append({k: np.asarray(v)[0] for k, v in single.items()})
            except Exception as e:  # noqa: BLE001
                per_probe.append(e)
    results = []
    for probe, out in zip(probes, per_probe, strict=True):
        if isinstance(out, Exception):
            message = f"{type(out).__name__}: {str(out).splitlines()[0] if str(out) else ''}"
            results.append(_probe_result(probe, "error", error=message[:500]))
            continue
        finite = all(
            np.all(np.isfinite(v))
            for v in out.values()
            if np.issubdtype(np.asarray(v).dtype, np.floating)
        )
        results.append(_probe_result(probe, "ok" if finite else "non_finite", outputs=out))
    bad = [r["probe"] for r in results if r["status"] != "ok"]
    if bad:
        logging.warning("Probes failed: %s", bad)
    return results
