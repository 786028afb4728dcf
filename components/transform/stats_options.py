"""Post-transform validation that refuses NaN and Inf in nanguard's transformed features.

Pass `stats_options_updater_fn='nanguard.components.transform.stats_options.'
'stats_options_updater_fn'` to the stock Transform component. For the post-transform statistics
it hardens the schema with `components/schema.py`'s `harden_schema` (the one implementation:
`float_domain.disallow_nan` and `disallow_inf` on every FLOAT output, struct members and named
global float domains included), except a numeric label, which may legitimately be NaN (the
trainer drops those rows), so the `post_transform_anomalies` that Transform writes report
FLOAT_TYPE_HAS_NAN / FLOAT_TYPE_HAS_INF if anything non-finite ever leaves the preprocessing_fn.
"""

from __future__ import annotations

from typing import Any

import tensorflow_data_validation as tfdv
from tfx.components.transform import stats_options_util

from nanguard.components.schema import harden_schema


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
        stats_options.schema = harden_schema(
            stats_options.schema, exclude=(label,) if label else (), missing_ok=True
        )
    return stats_options
