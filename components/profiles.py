"""Feature profiles: what the hostile probes need to know about each raw feature.

A profile gives a feature's kind, its typical value (the probes' base row) and its largest
observed magnitude (for ``out_of_range``). Profiles come from a TFMD schema (plus optional TFDV
statistics), from an Arrow table of raw data, or from a sample of serialized tf.Examples. NaN,
Inf and missing values never become a typical value or a range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx_bsl.coders import example_coder

from nanguard.components import vocab


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
    label_key: str = vocab.NO_LABEL,
) -> list[FeatureProfile]:
    """Builds feature profiles from a schema and, optionally, statistics of one split.

    Features outside the ``SERVING`` environment and ``label_key`` are skipped. Typical values
    and ranges come from the statistics (median from the quantiles histogram, else the mean;
    most frequent string), falling back to the schema domain, then to 0 / ''. NaN and Inf in
    the statistics (TFDV's min/max keep Inf) are ignored: a non-finite mean or max is not used.

    Args:
        schema: The TFMD schema of the raw data.
        statistics: Optional TFDV statistics (first dataset used).
        label_key: Feature to leave out (the label is not sent to the serving signature);
            ``vocab.NO_LABEL`` ("") for none.

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


def profiles_from_table(table: pa.Table, label_key: str = vocab.NO_LABEL) -> list[FeatureProfile]:
    """Builds feature profiles from raw data in an Arrow table (one column per feature).

    Vectorised with pyarrow.compute. Nulls, NaN and Inf are ignored when computing the median
    and the largest magnitude; an all-missing column gets no typical value (left out of the
    base row).

    Args:
        table: Raw data, one column per feature (float, integer or string), scalar or list
            (list columns, as decoded from tf.Examples, are flattened).
        label_key: Column to leave out; ``vocab.NO_LABEL`` ("") for none.

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
    serialized: Sequence[bytes], label_key: str = vocab.NO_LABEL
) -> list[FeatureProfile]:
    """Builds feature profiles from a sample of serialized tf.Examples (see profiles_from_table).

    Used when neither a schema nor statistics is available. NaN and Inf values in the sample are
    ignored for the typical value and the range.
    """
    if not serialized:
        return []
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(list(serialized))
    return profiles_from_table(pa.Table.from_batches([batch]), label_key=label_key)
