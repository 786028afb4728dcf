"""The monitor of served traffic: per-feature missing/NaN/Inf rates of logged requests and the
non-finite predictions of their responses, judged against the training profile.

    counts = ServedCounts(kinds)          # {feature: FLOAT|INT|STRING} of the training profile
    for chunk in served_logs.read_logs(path):
        counts.add_chunk(chunk)
    result = judge(counts, reference)     # the JSON-able result; result["ok"]

Counting is vectorised per chunk: tf.Examples are decoded to Arrow by tfx-bsl's
`ExamplesToRecordBatchDecoder`, JSON instances become one Arrow column per feature, and the
values are counted with numpy; no Python loop runs over values (a JSON column mixing numbers
and strings is split value by value, its only loop).

Definitions, per feature (the training profile's features, the label left out):

* `rows`: examples in the requests; `present`: examples holding at least one value of the
  feature; `missing`: `rows - present` (absent, null or an empty list).
* `num_values`: values present; `nan`, `pos_inf`, `neg_inf`: such values among them.
* `wrong_type`: values of the other kind than the training profile's (a string in a numeric
  feature, a number in a string feature). The bare JSON tokens NaN/Infinity/-Infinity are
  numbers; a quoted "NaN" is a string, so wrong type: TF Serving refuses it for a float
  input, and `tf.io.parse_example` refuses a bytes_list where the model reads floats, so such
  a request got no answer from a nanguard model.
* `out_of_range`: finite numeric values outside the raw range the run's transform keeps
  (`transform_record.repair_ranges`: it clips them), when the ranges are known (`--run`).
* `repaired`: `missing + nan + pos_inf + neg_inf + out_of_range`, the values the transform
  graph imputes or clips: per feature, what the responses' `nanguard_repaired` counts per
  example (the monitor reports that total too).

The rule: the missing, NaN, +Inf and -Inf rates are compared with the training split by
`drift.compare_splits` (the data guard's skew rule and the run's own thresholds); any
wrong-type value and any example whose prediction holds NaN or Inf (or whose `nanguard_finite`
is false) is a violation too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.arrow_numpy import as_numpy
from nanguard.components.data_guard import drift
from nanguard.components.data_guard.counts import FLOAT, INT, STRING, UNKNOWN, _kind_of
from nanguard.components.violations import Violation

GUARD = "ServingMonitor"
SPLIT = "served"
REFERENCE_SPLIT = "train"
# Counters per feature, in this order.
COUNTS = ("present", "num_values", "nan", "pos_inf", "neg_inf", "wrong_type", "out_of_range")
PREDICTION_COUNTS = (
    "examples",  # examples whose responses carried prediction values
    "non_finite",  # of them, examples with a NaN or +/-Inf prediction value
    "values",
    "nan",
    "pos_inf",
    "neg_inf",
    "flagged",  # examples whose response carried nanguard_finite
    "flagged_not_finite",  # of them, nanguard_finite false
    "repaired_flagged",  # examples whose response carried nanguard_repaired
    "repaired_examples",  # of them, nanguard_repaired > 0
    "repaired_values",  # the sum of nanguard_repaired
)
_NUMERIC = (FLOAT, INT)


def decode_examples(serialized: list[bytes]) -> Iterable[pa.RecordBatch | None]:
    """Record batches of the serialized tf.Examples (one list column per feature).

    A batch in which one feature has two types (a bytes_list among float_lists) cannot be
    decoded whole: it is split in halves until each part decodes, so every type is kept. An
    example that does not decode alone (not a tf.Example) gives None.
    """
    from tfx_bsl.coders import example_coder

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    pending = [serialized] if serialized else []
    while pending:
        part = pending.pop()
        try:
            yield decoder.DecodeBatch(part)
        except RuntimeError:  # "Feature had wrong type"
            if len(part) == 1:
                yield None
                continue
            half = len(part) // 2
            pending += [part[half:], part[:half]]


def _numeric_counts(values: np.ndarray) -> tuple[int, int, int]:
    """`(nan, pos_inf, neg_inf)` among `values` (vectorised)."""
    if values.dtype.kind != "f" or values.size == 0:
        return 0, 0, 0
    finite = int(np.count_nonzero(np.isfinite(values)))
    if finite == values.size:
        return 0, 0, 0
    nan = int(np.count_nonzero(np.isnan(values)))
    pos_inf = int(np.count_nonzero(values == np.inf))
    return nan, pos_inf, values.size - finite - nan - pos_inf


class ServedCounts:
    """Running counts of served requests against the training profile's feature kinds.

    Memory is fixed per feature: counters only. NaN and Inf are counted, never dropped.
    """

    def __init__(
        self, kinds: Mapping[str, str], ranges: Mapping[str, tuple[float, float] | None] = ()
    ):
        self.kinds = dict(kinds)
        self.ranges = dict(ranges or {})  # the raw ranges the transform keeps (else: clipped)
        self.rows = 0
        self.requests = 0
        self.skipped = 0
        self.undecodable = 0  # serialized examples that are not tf.Examples
        self.counts = {name: np.zeros(len(COUNTS), np.int64) for name in self.kinds}
        self.unknown: dict[str, int] = {}  # features the training profile does not have
        self.predictions = np.zeros(len(PREDICTION_COUNTS), np.int64)

    def add_chunk(self, chunk) -> None:
        """Adds a `served_logs.Chunk`: its examples, instances and prediction values."""
        self.requests += chunk.requests
        self.skipped += chunk.skipped
        for batch in decode_examples(chunk.examples):
            if batch is None:
                self.undecodable += 1
            else:
                self.add_record_batch(batch)
        if chunk.instances:
            self.add_instances(chunk.instances)
        self.add_predictions(
            chunk.values, chunk.segments, chunk.answered, chunk.finite, chunk.repaired
        )

    def add_record_batch(self, batch: pa.RecordBatch) -> None:
        """Adds decoded tf.Examples (list columns; null or empty list = missing)."""
        self.rows += batch.num_rows
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            lengths = pc.fill_null(pc.list_value_length(column), 0)
            present = int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
            self._add_values(name, present, column.flatten())

    def add_instances(self, instances: list[dict]) -> None:
        """Adds JSON instances (feature -> scalar or list; null or absent = missing)."""
        self.rows += len(instances)
        for name in sorted(set().union(*instances)):
            column = [instance.get(name) for instance in instances]
            try:
                array = pa.array(column)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers and strings mixed
                self._add_mixed(name, column)
                continue
            if pa.types.is_list(array.type):
                lengths = pc.fill_null(pc.list_value_length(array), 0)
                present = int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
                self._add_values(name, present, array.flatten())
            else:
                self._add_values(name, len(array) - array.null_count, array)

    def _add_mixed(self, name: str, column: list) -> None:
        flat = [v for value in column for v in (value if isinstance(value, list) else [value])]
        present = sum(1 for v in column if v is not None and v != [])
        strings = [v for v in flat if isinstance(v, str)]
        numbers = [v for v in flat if v is not None and not isinstance(v, str)]
        self._add_values(name, present, pa.array(numbers, pa.float64()))
        self._add_values(name, 0, pa.array(strings, pa.string()))

    def _add_values(self, name: str, present: int, values: pa.Array) -> None:
        values = pc.drop_null(values) if values.null_count else values
        if pa.types.is_boolean(values.type):
            values = values.cast(pa.int64())
        if name not in self.counts:
            self.unknown[name] = self.unknown.get(name, 0) + present
            return
        kind, expected = _kind_of(values.type), self.kinds[name]
        counts = self.counts[name]
        counts[0] += present
        counts[1] += len(values)
        if not len(values) or kind == UNKNOWN:
            return
        if (kind == STRING) != (expected == STRING) and expected != UNKNOWN:
            counts[5] += len(values)
        elif kind in _NUMERIC:
            numbers = as_numpy(values)
            counts[2:5] += _numeric_counts(numbers)
            if self.ranges.get(name) is not None:
                low, high = self.ranges[name]
                finite = numbers[np.isfinite(numbers)]
                counts[6] += int(np.count_nonzero((finite < low) | (finite > high)))

    def add_predictions(self, values, segments, answered: int, finite=(), repaired=()) -> None:
        """Adds prediction values and the model's flags (`served_logs.Chunk`'s fields). An
        example is non-finite when any of its values is NaN or +/-Inf."""
        p = self.predictions
        p[0] += answered
        if len(values):
            v = np.asarray(values, np.float64)
            lengths, rows, first = np.asarray(segments, np.int64).reshape(-1, 3).T
            per_row = np.maximum(lengths // np.maximum(rows, 1), 1)
            segment = np.repeat(np.arange(lengths.size), lengths)
            position = np.arange(v.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            example = first[segment] + position // per_row[segment]
            p[1] += np.unique(example[~np.isfinite(v)]).size
            p[2] += v.size
            p[3:6] += _numeric_counts(v)
        if len(finite):
            f = np.asarray(finite, bool)
            p[6] += f.size
            p[7] += int(np.count_nonzero(~f))
        if len(repaired):
            r = np.asarray(repaired, np.int64)
            p[8] += r.size
            p[9] += int(np.count_nonzero(r > 0))
            p[10] += int(r.sum())

    def profile(self) -> dict[str, Any]:
        """The served split as a profile (`{"rows", "features"}`, the data guard's shape)."""
        features = {}
        for name, counts in sorted(self.counts.items()):
            c = dict(zip(COUNTS, (int(x) for x in counts), strict=True))
            c["missing"] = self.rows - c["present"]
            c["repaired"] = c["missing"] + c["nan"] + c["pos_inf"] + c["neg_inf"]
            c["repaired"] += c["out_of_range"]
            features[name] = {"type": self.kinds[name], "rows": self.rows, **c}
        return {"rows": self.rows, "features": features}

    def prediction_counts(self) -> dict[str, int]:
        return dict(zip(PREDICTION_COUNTS, (int(x) for x in self.predictions), strict=True))


def reference_split(document: Mapping[str, Any], split: str = REFERENCE_SPLIT) -> dict:
    """The `split` profile of a `data_guard_profile.json` document (KeyError if absent), its
    label left out: requests do not carry it."""
    profile = document["splits"][split]
    label = document.get("label_key") or ""
    features = {k: v for k, v in profile["features"].items() if k != label}
    return {"rows": profile["rows"], "features": features}


def kinds_of(profile: Mapping[str, Any]) -> dict[str, str]:
    """`{feature: FLOAT|INT|STRING|UNKNOWN}` of a split profile."""
    return {n: str(f.get("type") or UNKNOWN).upper() for n, f in profile["features"].items()}


def tolerance_of(document: Mapping[str, Any]) -> drift.Tolerance:
    """The skew thresholds the run's data guard used (`policy.skew`), else the defaults."""
    skew = (document.get("policy") or {}).get("skew") or {}
    default = drift.Tolerance()
    return drift.Tolerance(
        float(skew.get("absolute", default.absolute)),
        float(skew.get("relative", default.relative)),
        float(skew.get("confidence", default.confidence)),
    )


def _rate(count: int, out_of: int) -> float | None:
    return count / out_of if out_of else None


def feature_rates(feature: Mapping[str, Any]) -> dict[str, float | None]:
    """Missing/NaN/+Inf/-Inf rates (drift's definitions), wrong-type (of values) and repaired
    (of rows; a training profile's: missing + NaN + Inf) rates of one feature; None over zero
    rows or values."""
    rates = {r: _rate(k, n) for r, (k, n) in drift.feature_rates(feature, feature["rows"]).items()}
    rates["wrong_type"] = _rate(feature.get("wrong_type", 0), feature.get("num_values", 0))
    repaired = sum(int(feature.get(k, 0)) for k in ("missing", *drift.RATES[1:]))
    rates["repaired"] = _rate(feature.get("repaired", repaired), feature["rows"])
    return rates


def judge(
    counts: ServedCounts,
    reference: Mapping[str, Any],
    tolerance: drift.Tolerance | None = None,
) -> dict[str, Any]:
    """The monitor's verdict: the served profile, its rates next to the training rates, the
    drift findings, and every violation (`ok` is False when there is one)."""
    tolerance = tolerance or drift.Tolerance()
    served = counts.profile()
    findings = drift.compare_splits(
        reference, served, tolerance, old_name=REFERENCE_SPLIT, new_name=SPLIT
    )
    violations = [
        Violation(
            GUARD, "drift", "data", drift.describe(f), feature=f["feature"], split=SPLIT,
            observed=f["new_rate"], limit=f["old_rate"], key="data_guard.skew",
            advice="find the client or upstream change that moved this rate",
            details={"rate": f["rate"], "z": f["z"]},
        )
        for f in findings
    ]  # fmt: skip
    for name, f in served["features"].items():
        if f["wrong_type"]:
            violations.append(
                Violation(
                    GUARD, "type", "data",
                    f"{name}: {f['wrong_type']} served value(s) of the wrong type (the model "
                    f"reads {f['type']}); such requests are refused by the model",
                    feature=name, split=SPLIT, observed=f["wrong_type"], limit=0,
                    advice="fix the client that sends them",
                )
            )  # fmt: skip
    preds = counts.prediction_counts()
    if preds["non_finite"] or preds["flagged_not_finite"]:
        bad = max(preds["non_finite"], preds["flagged_not_finite"])
        violations.append(
            Violation(
                GUARD, "non_finite_prediction", "non_finite",
                f"{bad} served example(s) answered with a NaN or Inf prediction (NaN values "
                f"{preds['nan']}, +Inf {preds['pos_inf']}, -Inf {preds['neg_inf']}; "
                f"nanguard_finite false {preds['flagged_not_finite']})",
                split=SPLIT, observed=bad, limit=0,
                advice="replay the logged requests through `nanguard check-model`",
                details=preds,
            )
        )  # fmt: skip
    train = reference["features"]
    features = {
        name: {
            **f,
            "rates": feature_rates(f),
            "train_rates": feature_rates({**train[name], "rows": reference["rows"]})
            if name in train
            else {},
        }
        for name, f in served["features"].items()
    }
    return {
        "requests": counts.requests,
        "examples": counts.rows,
        "skipped": counts.skipped,
        "undecodable_examples": counts.undecodable,
        "features": features,
        "unknown_features": dict(sorted(counts.unknown.items())),
        "predictions": preds,
        "tolerance": {
            "absolute": tolerance.absolute,
            "relative": tolerance.relative,
            "confidence": tolerance.confidence,
        },
        "drift": findings,
        "violations": [v.to_dict() for v in violations],
        "ok": not violations,
    }


def fmt_rate(value: float | None) -> str:
    """A rate as a percentage; '-' for none (NaN never reaches here: counts are integers)."""
    return "-" if value is None or math.isnan(value) else f"{value:.2%}"
