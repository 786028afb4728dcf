"""Hostile probes: the requests a model must still answer with finite predictions.

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # both heavy; this module is read by light config code for its families
    import tensorflow as tf

    from nanguard.components.profiles import FeatureProfile

# Hostile requests, per feature (the module docstring says what each one sends): absent;
# NaN, +Inf, -Inf; 1000x the observed magnitude either way; the type's largest finite value
# either way (+/-3.4028235e38 for float32); the smallest positive subnormal; -0.0; a number
# sent as bytes (must be rejected or answered finitely); and one request with every feature
# absent.
PROBE_FAMILIES = (
    "missing",
    "nan",
    "pos_inf",
    "neg_inf",
    "out_of_range",
    "out_of_range_neg",
    "pos_extreme",
    "neg_extreme",
    "subnormal",
    "neg_zero",
    "as_bytes",
    "all_missing",
)

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
    import tensorflow as tf

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
    import tensorflow as tf

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
