"""Hostile probes: requests a model must still answer with finite predictions.

A probe is one tf.Example built from a *base row* of typical values (median, else mean, of
numeric features; most frequent value of string features; see ``profiles.py``) with one
feature changed:

* ``missing``: the feature is absent from the request;
* ``nan`` / ``pos_inf`` / ``neg_inf``: a float feature set to NaN / +Inf / -Inf (integer and
  string features cannot hold them, so they get no such probe);
* ``out_of_range`` / ``out_of_range_neg``: a numeric feature set to +1000x / -1000x the largest
  magnitude seen (observed max/min from the statistics, else the schema domain, else 1),
  clipped to the float32 / int64 range;
* ``pos_extreme`` / ``neg_extreme``: a numeric feature set to the largest / smallest finite
  value its type holds: +/-3.4028235e38 (float32 max) for float, int64 max / min for int;
* ``subnormal``: a float feature set to the smallest positive subnormal float32, 1.4e-45;
* ``neg_zero``: a float feature set to -0.0 (1 / -0.0 is -Inf, log(-0.0) is -Inf);
* ``as_bytes``: a numeric feature sent as bytes (its typical value as text, e.g. b"2.5"),
  the type a client that forgot to convert sends. A signature that raises on it *rejects*
  it (status ``rejected``, not a failure: an error, never a NaN); a signature that answers
  must answer finitely;
* ``all_missing``: one request with every feature absent.

A model exported with ``trainer.nonfinite_input: reject`` refuses the ``nan``/``pos_inf``/
``neg_inf`` probes with INVALID_ARGUMENT naming the feature: status ``rejected``, as it should.

Every probe family except ``missing`` and ``all_missing`` applies to numeric features only;
``nan``, ``pos_inf``, ``neg_inf``, ``subnormal`` and ``neg_zero`` to float features only.
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
from nanguard.components.served_flags import REJECT_MESSAGE

OUT_OF_RANGE_FACTOR = 1000.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)
_INT64_MIN = int(np.iinfo(np.int64).min)
FLOAT32_SUBNORMAL = float(np.finfo(np.float32).smallest_subnormal)  # 1.4e-45
# Families whose probe a signature may refuse: an exception is then ``rejected``, not a failure.
REJECTABLE_FAMILIES = ("as_bytes",)
# Families a model under nanguard's ``reject`` policy refuses with ``REJECT_MESSAGE``: rejected.
NONFINITE_FAMILIES = ("nan", "pos_inf", "neg_inf")
_FLOAT_ONLY = ("nan", "pos_inf", "neg_inf", "subnormal", "neg_zero")
_PER_FEATURE = tuple(f for f in PROBE_FAMILIES if f != "all_missing")


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


def _out_of_range_value(profile: FeatureProfile, sign: int) -> float | int:
    magnitude = OUT_OF_RANGE_FACTOR * (profile.max_abs if profile.max_abs else 1.0)
    if profile.kind == "int":
        return int(min(magnitude, _INT64_MAX)) if sign > 0 else -int(min(magnitude, -_INT64_MIN))
    return sign * min(magnitude, _FLOAT32_MAX)


def _probe_value(family: str, profile: FeatureProfile) -> Any:
    """The value a per-feature probe family sends for ``profile`` (not for ``missing``)."""
    if family == "out_of_range":
        return _out_of_range_value(profile, +1)
    if family == "out_of_range_neg":
        return _out_of_range_value(profile, -1)
    if family == "pos_extreme":
        return _INT64_MAX if profile.kind == "int" else _FLOAT32_MAX
    if family == "neg_extreme":
        return _INT64_MIN if profile.kind == "int" else -_FLOAT32_MAX
    if family == "as_bytes":
        return str(profile.typical if profile.typical is not None else 0).encode("utf-8")
    return {
        "nan": float("nan"),
        "pos_inf": float("inf"),
        "neg_inf": float("-inf"),
        "subnormal": FLOAT32_SUBNORMAL,
        "neg_zero": -0.0,
    }[family]


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
        Probes in a stable order: base row, then per feature the families that apply to its
        type, in ``PROBE_FAMILIES`` order, then all_missing. Float-only families (NaN, +/-Inf,
        subnormal, -0.0) are built for float features only; no family but ``missing`` is
        built for string features.
    """
    if not families:
        return []
    base = base_example(profiles)
    probes = [Probe("base", "base", "", base)]
    for profile in profiles:
        for family in _PER_FEATURE:
            if family not in families:
                continue
            if family != "missing" and profile.kind == "bytes":
                continue
            if family in _FLOAT_ONLY and profile.kind != "float":
                continue
            example = tf.train.Example()
            example.CopyFrom(base)
            if family == "missing":
                if profile.name in example.features.feature:
                    del example.features.feature[profile.name]
            elif family == "as_bytes":
                feature = example.features.feature[profile.name]
                feature.bytes_list.value[:] = [_probe_value(family, profile)]
            else:
                _set_feature(example, profile, _probe_value(family, profile))
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


def _predict_rows(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]], serialized: Sequence[bytes]
) -> list[dict[str, np.ndarray] | Exception]:
    """One batch; if it raises, each record alone, so that the failing ones are named."""
    if not serialized:
        return []
    try:
        outputs = predict(serialized)
        return [{k: np.asarray(v)[i] for k, v in outputs.items()} for i in range(len(serialized))]
    except Exception:  # noqa: BLE001 -- re-run one by one to name the failing probe
        per_row: list[dict[str, np.ndarray] | Exception] = []
        for record in serialized:
            try:
                single = predict([record])
                per_row.append({k: np.asarray(v)[0] for k, v in single.items()})
            except Exception as e:  # noqa: BLE001
                per_row.append(e)
        return per_row


def run_probes(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]], probes: Sequence[Probe]
) -> list[dict[str, Any]]:
    """Runs every probe through ``predict`` and classifies the answers.

    The probes go in one batch (the rejectable ones, which a typed signature raises on, in a
    batch of their own); if a batch raises, each of its probes is re-run alone so that the
    failing ones are named.

    Args:
        predict: Callable taking a batch of serialized tf.Examples and returning output arrays
            (e.g. ``signature.ModelSignature``).
        probes: The probes.

    Returns:
        One dict per probe, in the order given: ``probe``, ``family``, ``feature``, ``status``
        (``'ok'``; ``'non_finite'`` when any output value is NaN/+Inf/-Inf; ``'rejected'``
        when the signature raised on a probe of ``REJECTABLE_FAMILIES``, the right answer to
        a number sent as bytes, or refused a NaN/Inf probe with nanguard's ``reject`` policy
        error, ``served_flags.REJECT_MESSAGE``; ``'error'`` when it raised on any other
        probe), ``request``,
        ``outputs``/``non_finite_outputs`` or ``error``.
    """
    if not probes:
        return []
    lone = [i for i, p in enumerate(probes) if p.family in REJECTABLE_FAMILIES]
    together = [i for i, p in enumerate(probes) if p.family not in REJECTABLE_FAMILIES]
    serialized = [p.example.SerializeToString() for p in probes]
    per_probe: dict[int, dict[str, np.ndarray] | Exception] = dict(
        zip(together, _predict_rows(predict, [serialized[i] for i in together]), strict=True)
    )
    per_probe.update(zip(lone, _predict_rows(predict, [serialized[i] for i in lone]), strict=True))
    results = []
    for i, probe in enumerate(probes):
        out = per_probe[i]
        if isinstance(out, Exception):
            message = f"{type(out).__name__}: {str(out).splitlines()[0] if str(out) else ''}"
            refused = probe.family in NONFINITE_FAMILIES and REJECT_MESSAGE in str(out)
            status = "rejected" if probe.family in REJECTABLE_FAMILIES or refused else "error"
            results.append(_probe_result(probe, status, error=message[:500]))
            continue
        finite = all(
            np.all(np.isfinite(v))
            for v in out.values()
            if np.issubdtype(np.asarray(v).dtype, np.floating)
        )
        results.append(_probe_result(probe, "ok" if finite else "non_finite", outputs=out))
    bad = [r["probe"] for r in results if r["status"] in ("non_finite", "error")]
    if bad:
        logging.warning("Probes failed: %s", bad)
    rejected = [r["probe"] for r in results if r["status"] == "rejected"]
    if rejected:
        logging.info("Probes rejected by the signature (as they should be): %s", rejected)
    return results
