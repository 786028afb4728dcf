"""schema.py: the one schema hardening (HardenSchema, harden-schema, post-transform stats)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.transform import stats_options_util

from nanguard.components.data_guard import schema
from nanguard.components.transform import stats_options
from tests.data_guard.helpers import T as _T


def _schema() -> schema_pb2.Schema:
    s = schema_pb2.Schema()
    s.feature.add(name="a", type=schema_pb2.FLOAT)
    s.feature.add(name="b", type=schema_pb2.FLOAT)
    s.feature.add(name="c", type=schema_pb2.BYTES)
    s.feature.add(name="i", type=schema_pb2.INT)
    s.feature.add(name="g", type=schema_pb2.FLOAT, domain="gdom")
    s.float_domain.add(name="gdom", min=0.0)
    return s


def test_harden_schema_sets_flags_on_float_features_only():
    original = _schema()
    hardened = schema.harden_schema(original, exclude=["b"])
    by_name = {f.name: f for f in hardened.feature}
    assert by_name["a"].float_domain.disallow_nan and by_name["a"].float_domain.disallow_inf
    assert not by_name["b"].HasField("float_domain")
    assert not by_name["c"].HasField("float_domain") and not by_name["i"].HasField("float_domain")
    assert hardened.float_domain[0].disallow_nan and hardened.float_domain[0].disallow_inf
    assert not original.feature[0].HasField("float_domain")  # input untouched
    with pytest.raises(ValueError, match=r"\['c'\] are not FLOAT features"):
        schema.harden_schema(original, exclude=["c"])


def test_hardened_schema_makes_tfdv_report_nan_and_inf():
    batch = pa.RecordBatch.from_arrays(
        [pa.array([[1.0], [np.nan], [2.0]]), pa.array([[1.0], [np.inf], [3.0]])], ["a", "b"]
    )
    from tensorflow_data_validation.statistics import stats_impl

    stats = stats_impl.generate_statistics_in_memory(batch)
    inferred = tfdv.infer_schema(stats)
    assert not tfdv.validate_statistics(stats, inferred).anomaly_info  # the stock gap
    hardened = schema.harden_schema(inferred)
    reasons = {
        name: {r.type for r in info.reason}
        for name, info in tfdv.validate_statistics(stats, hardened).anomaly_info.items()
    }
    assert _T.FLOAT_TYPE_HAS_NAN in reasons["a"]
    assert _T.FLOAT_TYPE_HAS_INF in reasons["b"]


def test_harden_inferred_schema_hardens_and_makes_all_but_the_label_optional():
    s = _schema()
    for f in s.feature:
        f.presence.min_fraction = 1.0
        f.shape.dim.add(size=1)
    s.feature.add(name="label", type=schema_pb2.FLOAT).presence.min_fraction = 1.0
    out = {f.name: f for f in schema.harden_inferred_schema(s, "label", exclude=["b"]).feature}
    assert out["a"].float_domain.disallow_nan and not out["b"].HasField("float_domain")
    assert out["label"].float_domain.disallow_inf  # hardened, but still required
    assert out["label"].presence.min_fraction == 1.0
    for name in "abcig":
        assert out[name].presence.min_fraction == 0.0 and not out[name].HasField("shape"), name
        assert (out[name].value_count.min, out[name].value_count.max) == (1, 1), name
    assert s.feature[0].presence.min_fraction == 1.0  # input untouched


def test_post_transform_stats_options_use_the_same_hardening():
    """stats_options_updater_fn == harden_schema(exclude=label), now with global domains too."""
    s = _schema()
    s.feature.add(name="price", type=schema_pb2.FLOAT)
    options = stats_options.stats_options_updater_fn(
        stats_options_util.StatsType.POST_TRANSFORM,
        tfdv.StatsOptions(schema=s),
        {"label_key": "price"},
    )
    assert options.schema == schema.harden_schema(s, exclude=["price"])
    assert options.schema.float_domain[0].disallow_nan  # 'g' refers to the global domain
    # A string label is not a FLOAT feature: accepted, nothing excluded.
    options = stats_options.stats_options_updater_fn(
        stats_options_util.StatsType.POST_TRANSFORM, tfdv.StatsOptions(schema=s), {"label_key": "c"}
    )
    assert options.schema == schema.harden_schema(s)
    with pytest.raises(ValueError, match="not FLOAT features"):
        schema.harden_schema(s, exclude=["c"])
