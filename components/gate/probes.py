"""Hostile probes: requests a model must still answer with finite predictions.

A probe is one tf.Example built from a *base row* of typical values (median, else mean, of
numeric features; most frequent value of string features) with one feature changed:

* ``missing``: the feature is absent from the request;
* ``nan`` / ``pos_inf`` / ``neg_inf``: a float feature set to NaN / +Inf / -Inf (integer and
  string features cannot hold them, so they get no such probe);
* ``out_of_range``: a numeric feature set to 1000x the largest magnitude seen (observed max/min
  from the statistics, else the schema domain, else 1), clipped to the float32 / int64 range;
* ``all_missing``: one request with every feature absent.

Profiles come from a TFMD schema (plus optional statistics) or from an Arrow table of raw data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx_bsl.coders import example_coder

from nanguard.components.gate.records import example_to_dict, jsonable

PROBE_FAMILIES = ("missing", "nan", "pos_inf", "neg_inf", "out_of_range", "all_missing")
OUT_OF_RANGE_FACTOR = 1000.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclasses.dataclass(frozen=True)
class FeatureProfile:
    """What the probes need to know about one raw feature.

    Attributes:
        name: Feature name in the tf.Example.
        kind: ``'float'``, ``'int'`` or ``'bytes'``.
        typical: Base-row value (median/mean or most frequent string); None means the feature
            is left out of the base row.
        max_abs: Largest magnitude seen (numeric features), used by ``out_of_range``.
    """

    name: str
    kind: str
    typical: Any = None
    max_abs: float | None = None


def validate_families(families: Sequence[str]) -> list[str]:
    """Returns ``families`` as a list, raising ValueError naming any unknown family."""
    unknown = sorted(set(families) - set(PROBE_FAMILIES))
    if unknown:
        raise ValueError(f"Unknown probe families {unknown}; allowed: {list(PROBE_FAMILIES)}.")
    return list(families)


def _stats_by_name(
    statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    if statistics is None or not statistics.datasets:
        return {}
    out = {}
    for feature in statistics.datasets[0].features:
        name = ".".join(feature.path.step) if feature.path.step else feature.name
        out[name] = feature
    return out


def _median_from_quantiles(num: statistics_pb2.NumericStatistics) -> float | None:
    for hist in num.histograms:
        if hist.type == statistics_pb2.Histogram.QUANTILES and hist.buckets:
            n = len(hist.buckets)
            bucket = hist.buckets[n // 2]
            return (bucket.low_value + bucket.high_value) / 2 if n % 2 else bucket.low_value
    return None


def profiles_from_schema(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    label_key: str | None = None,
) -> list[FeatureProfile]:
    """Builds feature profiles from a schema and, optionally, statistics of one split.

    Features outside the ``SERVING`` environment and ``label_key`` are skipped. Typical values
    and ranges come from the statistics (median from the quantiles histogram, else the mean;
    most frequent string), falling back to the schema domain, then to 0 / ''. NaN and Inf in
    the statistics (TFDV's min/max keep Inf) are ignored: a non-finite mean or max is not used.

    Args:
        schema: The TFMD schema of the raw data.
        statistics: Optional TFDV statistics (first dataset used).
        label_key: Feature to leave out (the label is not sent to the serving signature).

    Returns:
        One profile per feature, in schema order.
    """
    stats = _stats_by_name(statistics)
    profiles = []
    for feature in schema.feature:
        if feature.name == label_key:
            continue
        if "SERVING" in feature.not_in_environment:
            continue
        if feature.type == schema_pb2.FLOAT:
            kind = "float"
        elif feature.type == schema_pb2.INT:
            kind = "int"
        elif feature.type == schema_pb2.BYTES:
            kind = "bytes"
        else:
            logging.info("Probes skip feature %s of type %s.", feature.name, feature.type)
            continue
        fstats = stats.get(feature.name)
        typical: Any = None
        max_abs: float | None = None
        if kind in ("float", "int"):
            candidates = []
            if fstats is not None and fstats.HasField("num_stats"):
                num = fstats.num_stats
                median = _median_from_quantiles(num)
                typical = median if median is not None and np.isfinite(median) else None
                if typical is None and np.isfinite(num.mean):
                    typical = num.mean
                candidates += [num.max, num.min]
            domain = feature.float_domain if kind == "float" else feature.int_domain
            if feature.HasField("float_domain") or feature.HasField("int_domain"):
                if domain.HasField("max"):
                    candidates.append(domain.max)
                if domain.HasField("min"):
                    candidates.append(domain.min)
                    if typical is None:
                        typical = domain.min
            finite = [abs(float(c)) for c in candidates if np.isfinite(c)]
            max_abs = max(finite) if finite else None
            if typical is None:
                typical = 0.0
            if kind == "int":
                typical = int(round(typical))
        else:
            if fstats is not None and fstats.HasField("string_stats"):
                top = fstats.string_stats.top_values
                if top:
                    typical = top[0].value
            if typical is None and feature.HasField("string_domain"):
                values = feature.string_domain.value
                typical = values[0] if values else None
            if typical is None:
                typical = ""
        profiles.append(FeatureProfile(feature.name, kind, typical, max_abs))
    return profiles


def profiles_from_table(table: pa.Table, label_key: str | None = None) -> list[FeatureProfile]:
    """Builds feature profiles from raw data in an Arrow table (one column per feature).

    Vectorised with pyarrow.compute. Nulls, NaN and Inf are ignored when computing the median
    and the largest magnitude; an all-missing column gets no typical value (left out of the
    base row).

    Args:
        table: Raw data, one column per feature (float, integer or string), scalar or list
            (list columns, as decoded from tf.Examples, are flattened).
        label_key: Column to leave out.

    Returns:
        One profile per column.
    """
    profiles = []
    for name in table.column_names:
        if name == label_key:
            continue
        column = table.column(name)
        while pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pa.chunked_array(
                [chunk.flatten() for chunk in column.chunks], column.type.value_type
            )
        dtype = column.type
        if pa.types.is_null(dtype):
            continue
        if pa.types.is_floating(dtype) or pa.types.is_integer(dtype):
            kind = "float" if pa.types.is_floating(dtype) else "int"
            values = column.cast(pa.float64()).to_numpy()
            values = values[np.isfinite(values)]
            if values.size == 0:
                profiles.append(FeatureProfile(name, kind, None, None))
                continue
            typical: Any = float(np.median(values))
            if kind == "int":
                typical = int(round(typical))
            profiles.append(FeatureProfile(name, kind, typical, float(np.abs(values).max())))
        else:
            counts = pc.value_counts(pc.drop_null(column.cast(pa.string())))
            if len(counts) == 0:
                profiles.append(FeatureProfile(name, "bytes", None, None))
                continue
            top = int(np.argmax(counts.field("counts").to_numpy()))
            typical = counts.field("values")[top].as_py()
            profiles.append(FeatureProfile(name, "bytes", typical, None))
    return profiles


def profiles_from_records(
    serialized: Sequence[bytes], label_key: str | None = None
) -> list[FeatureProfile]:
    """Builds feature profiles from a sample of serialized tf.Examples (see profiles_from_table).

    Used when neither a schema nor statistics is available. NaN and Inf values in the sample are
    ignored for the typical value and the range.
    """
    if not serialized:
        return []
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(list(serialized))
    return profiles_from_table(pa.Table.from_batches([batch]), label_key=label_key)


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
        families: Families to build; unknown names raise ValueError.

    Returns:
        Probes in a stable order: base row, then per feature missing, nan, pos_inf, neg_inf,
        out_of_range (the families that apply to its type), then all_missing. NaN/Inf probes
        are built only for float features.
    """
    families = validate_families(families)
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
        result["outputs"] = jsonable(outputs)
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
            (e.g. ``core.ModelSignature``).
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
