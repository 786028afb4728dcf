"""Post-transform validation that refuses NaN and Inf in nanguard's transformed features.

Pass `stats_options_updater_fn='nanguard.components.transform.stats_options.'
'stats_options_updater_fn'` to the stock Transform component. For the post-transform statistics
it sets `float_domain.disallow_nan` and `disallow_inf` on every FLOAT output of the schema
(except a numeric label, which may legitimately be NaN: the trainer drops those rows), so the
`post_transform_anomalies` that Transform writes report FLOAT_TYPE_HAS_NAN / FLOAT_TYPE_HAS_INF
if anything non-finite ever leaves the preprocessing_fn.
"""

from __future__ import annotations

from typing import Any

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.transform import stats_options_util


def disallow_non_finite(schema: schema_pb2.Schema, exclude: tuple[str, ...] = ()) -> list[str]:
    """Sets float_domain.disallow_nan/disallow_inf on the FLOAT features of `schema` in place.

    Args:
      schema: the (post-transform) schema to edit.
      exclude: feature names left alone (e.g. a numeric label).

    Returns:
      The names of the features that now refuse NaN and Inf.
    """
    names = []
    for feature in schema.feature:
        if feature.type != schema_pb2.FLOAT or feature.name in exclude:
            continue
        if feature.WhichOneof("domain_info") not in (None, "float_domain"):
            continue
        feature.float_domain.disallow_nan = True
        feature.float_domain.disallow_inf = True
        names.append(feature.name)
    return names


def stats_options_updater_fn(
    stats_type: stats_options_util.StatsType,
    stats_options: tfdv.StatsOptions,
    custom_config: dict[str, Any] | None = None,
) -> tfdv.StatsOptions:
    """Transform's stats_options_updater_fn: post-transform FLOAT outputs must be finite.

    Args:
      stats_type: PRE_TRANSFORM or POST_TRANSFORM (only the latter is changed).
      stats_options: the options Transform built; its `schema` is the transformed schema.
      custom_config: Transform's custom_config (bound by TFX); its `label_key` is exempted.

    Returns:
      The options, with NaN and Inf disallowed on float outputs of the post-transform schema.
    """
    if stats_type == stats_options_util.StatsType.POST_TRANSFORM and stats_options.schema:
        label = (custom_config or {}).get("label_key")
        schema = schema_pb2.Schema()
        schema.CopyFrom(stats_options.schema)
        disallow_non_finite(schema, exclude=(label,) if label else ())
        stats_options.schema = schema
    return stats_options
