"""The data guard's profile as TFDV statistics (`DatasetFeatureStatisticsList`), exact counts kept.

One `DatasetFeatureStatistics` per split (`name` = the split, `num_examples` = its rows), one
`FeatureNameStatistics` per feature, so TFDV's own tools (`tfdv.visualize_statistics`,
`tfdv.validate_statistics`, Vertex's viewers) read it:

* `common_stats`: `num_non_missing` (rows with a value), `num_missing` (rows without one, exact),
  `tot_num_values`, `avg_num_values`;
* numeric features: `mean`, `std_dev`, `min`, `max`, `median` over the finite values only, and
  one STANDARD histogram whose `num_nan` is the exact NaN count (TFDV's own field for it; it has
  no bucket, the values are not binned here);
* string features: `top_values` (the most frequent value and its count) and `unique` left 0;
* every feature: `custom_stats` `nanguard_nan`, `nanguard_pos_inf`, `nanguard_neg_inf`,
  `nanguard_huge` with the exact counts (TFDV has no field for +-Inf).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

STATS_FILE_NAME = "data_guard_stats.pb"
_TYPES = {
    "FLOAT": statistics_pb2.FeatureNameStatistics.FLOAT,
    "INT": statistics_pb2.FeatureNameStatistics.INT,
    "STRING": statistics_pb2.FeatureNameStatistics.STRING,
}
CUSTOM = ("nan", "pos_inf", "neg_inf", "huge")


def _common(stats, feature: Mapping[str, Any]) -> None:
    present = int(feature.get("present", 0))
    values = int(feature.get("num_values", 0))
    stats.num_non_missing = present
    stats.num_missing = int(feature.get("missing", 0))
    stats.tot_num_values = values
    stats.avg_num_values = values / present if present else 0.0


def to_statistics(
    profile: Mapping[str, Mapping[str, Any]],
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """`{split: split profile}` -> DatasetFeatureStatisticsList (splits in sorted order).

    A statistic the profile leaves as None (no finite value) is left unset; NaN and Inf never
    reach a float field.
    """
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for split in sorted(profile):
        split_profile = profile[split]
        dataset = out.datasets.add(name=split, num_examples=int(split_profile.get("rows", 0)))
        for name, feature in sorted(split_profile.get("features", {}).items()):
            fs = dataset.features.add()
            fs.path.step.append(name)
            kind = feature.get("type", "FLOAT")
            fs.type = _TYPES.get(kind, statistics_pb2.FeatureNameStatistics.FLOAT)
            if kind == "STRING":
                _common(fs.string_stats.common_stats, feature)
                if feature.get("top_value") is not None:
                    fs.string_stats.top_values.add(
                        value=str(feature["top_value"]), frequency=float(feature["top_count"])
                    )
            else:
                num = fs.num_stats
                _common(num.common_stats, feature)
                for src, dst in (("mean", "mean"), ("std", "std_dev"), ("min", "min"),
                                 ("max", "max"), ("median", "median")):  # fmt: skip
                    if feature.get(src) is not None:
                        setattr(num, dst, float(feature[src]))
                num.histograms.add(
                    type=statistics_pb2.Histogram.STANDARD, num_nan=int(feature.get("nan", 0))
                )
            for key in CUSTOM:
                fs.custom_stats.add(name=f"nanguard_{key}", num=float(feature.get(key, 0)))
    return out
