"""The serving signature's flags: `nanguard_repaired` counts, per example, the input values the
transform graph repairs (missing, NaN, +/-Inf, outside the range it clips to); `nanguard_finite`
says whether every prediction is finite. Checked on hostile requests against a count made in
Python from the request rows, and the ranges against the transform graph's own clipping."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components import transform_record
from nanguard.components.trainer import serving
from tests.trainer import _serving_model

NUMERIC, STRING, LABEL = _serving_model.NUMERIC, _serving_model.STRING, _serving_model.LABEL


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(transform output, loaded SavedModel, ranges, the Keras model): `_serving_model.build`."""
    return _serving_model.build(str(tmp_path_factory.mktemp("flags")))


def _expected(row: dict, ranges: dict) -> int:
    """The reference count: a missing feature is one repair; so is each numeric value that is
    NaN, +/-Inf or outside its range."""
    count = 0
    for name, bounds in ranges.items():
        values = row.get(name, [])
        if not values:
            count += 1
            continue
        if bounds is not None:
            low, high = bounds
            count += sum(1 for v in values if not math.isfinite(v) or not low <= v <= high)
    return count


def test_ranges_are_the_records_and_the_graph_clips_just_outside_them(served):
    tft_out, _, ranges, _ = served
    assert set(ranges) == {*NUMERIC, *STRING} and ranges["island"] is None
    layer = tft_out.transform_features_layer()
    for name in NUMERIC:
        low, high = ranges[name]
        step = 0.01 * (high - low)
        raw = {n: tf.sparse.from_dense(tf.constant([[4000.0]] * 6)) for n in NUMERIC}
        raw["island"] = tf.sparse.from_dense(tf.constant([[b"Dream"]] * 6))
        values = [low - 1e30, low - step, low + step, high - step, high + step, 1e30]
        raw[name] = tf.sparse.from_dense(tf.constant([[v] for v in values], tf.float32))
        out = layer(raw)[name].numpy()
        # Just outside the range: clipped to the range's ends; just inside: kept.
        assert out[1] == pytest.approx(out[0]) and out[4] == pytest.approx(out[5])
        assert out[0] < out[2] < out[3] < out[5]


def test_flags_count_every_repair_per_example_and_predictions_are_unchanged(served):
    tft_out, loaded, ranges, model = served
    low, high = ranges["mass"]
    requests = [
        {"bill": [41.0], "mass": [4100.0], "island": [b"Dream"]},  # nothing to repair
        {"bill": [math.nan], "mass": [4100.0], "island": [b"Dream"]},
        {"bill": [math.inf], "mass": [-math.inf], "island": [b"Biscoe"]},
        {"mass": [4100.0]},  # bill and island missing
        {"bill": [41.0], "mass": [high * 2 + 1], "island": [b"Dream"]},  # clipped
        {"bill": [41.0], "mass": [(low + high) / 2], "island": [b"Unseen"]},  # OOV is not
        {},  # every feature missing
    ]
    serialized = tf.constant([_serving_model.example(r) for r in requests])
    result = loaded.signatures[serving.SERVING_SIGNATURE](examples=serialized)
    expected = [_expected(r, ranges) for r in requests]
    assert expected == [0, 1, 2, 2, 1, 0, 3]
    assert result[serving.REPAIRED_KEY].dtype == tf.int64
    assert result[serving.REPAIRED_KEY].numpy().tolist() == expected
    assert result[serving.FINITE_KEY].numpy().tolist() == [True] * len(requests)
    outputs = result[serving.OUTPUT_KEY].numpy()
    assert outputs.shape == (len(requests), 2) and np.isfinite(outputs).all()
    # The predictions are what the model gives on the transformed requests, as before.
    request_spec = {k: v for k, v in tft_out.raw_feature_spec().items() if k != LABEL}
    direct = tft_out.transform_features_layer()(tf.io.parse_example(serialized, request_spec))
    direct.pop(LABEL, None)
    np.testing.assert_allclose(outputs, model(direct).numpy(), rtol=1e-5, atol=1e-6)


def test_an_empty_request_batch_gets_empty_flags(served):
    _, loaded, _, _ = served
    result = loaded.signatures[serving.SERVING_SIGNATURE](examples=tf.constant([], tf.string))
    assert result[serving.REPAIRED_KEY].shape == (0,) and result[serving.FINITE_KEY].shape == (0,)


def test_finite_rows_marks_any_non_finite_value_of_a_row():
    predictions = tf.constant([[0.1, 0.9], [np.nan, 1.0], [0.5, np.inf], [-np.inf, 0.0]])
    assert serving.finite_rows(predictions).numpy().tolist() == [True, False, False, False]
    assert serving.finite_rows(tf.constant([1.0, np.nan])).numpy().tolist() == [True, False]


def test_ranges_undo_each_scaling_and_intersect_the_quantile_clip(monkeypatch):
    """The raw range of an output range: z-score and robust `center + bound * factor`, `none`
    the bounds themselves, a zero spread read as factor 1; `clip_quantiles` narrows it."""

    features = {
        "z": {"kind": "numeric", "center": 10.0, "scale_factor": 2.0,
              "output_low": -3.0, "output_high": 4.0},
        "clipped": {"kind": "numeric", "center": 10.0, "scale_factor": 2.0,
                    "output_low": -3.0, "output_high": 4.0, "clip_low": 5.0, "clip_high": 30.0},
        "raw": {"kind": "numeric", "output_low": -1.5, "output_high": 8.0},
        "constant": {"kind": "numeric", "center": 7.0, "scale_factor": 0.0,
                     "output_low": -3.0, "output_high": 3.0},
        "island": {"kind": "string", "fill_value": "Dream"},
    }  # fmt: skip
    monkeypatch.setattr(transform_record, "read_transform_record", lambda d: {"features": features})
    assert transform_record.repair_ranges("unused") == {
        "z": (4.0, 18.0),
        "clipped": (5.0, 18.0),
        "raw": (-1.5, 8.0),
        "constant": (4.0, 10.0),
        "island": None,
    }


@pytest.fixture(scope="module")
def rejecting(served, tmp_path_factory):
    """The model of `served`, exported again with `nonfinite_input='reject'`."""
    from nanguard.components.trainer import export

    tft_out, _, ranges, model = served
    target = str(tmp_path_factory.mktemp("reject") / "serving")
    export.export_model(
        model, tft_out, _serving_model.LABEL, target, ranges=ranges, nonfinite_input="reject"
    )
    return tf.saved_model.load(target)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_reject_fails_a_request_with_nan_or_inf_naming_the_feature_and_example(
    served, rejecting, bad
):
    requests = [
        {"bill": [41.0], "mass": [4100.0], "island": [b"Dream"]},
        {"bill": [41.0], "mass": [4100.0], "island": [b"Dream"]},
        {"bill": [41.0], "mass": [bad], "island": [b"Dream"]},
    ]
    serialized = tf.constant([_serving_model.example(r) for r in requests])
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        rejecting.signatures[serving.SERVING_SIGNATURE](examples=serialized)
    message = str(caught.value)
    assert "nanguard rejects the request: feature `mass` holds NaN or Inf" in message
    assert "0-based:] [2]" in message and "`bill`" not in message
    # `serving_repair` answers the same batch as the repairing model does.
    repaired = rejecting.signatures[serving.REPAIR_SIGNATURE](examples=serialized)
    reference = served[1].signatures[serving.SERVING_SIGNATURE](examples=serialized)
    assert repaired[serving.REPAIRED_KEY].numpy().tolist() == [0, 0, 1]
    np.testing.assert_allclose(
        repaired[serving.OUTPUT_KEY].numpy(), reference[serving.OUTPUT_KEY].numpy(), rtol=1e-6
    )


def test_reject_still_answers_missing_and_out_of_range_values_with_their_flags(served, rejecting):
    _, loaded, ranges, _ = served
    _, high = ranges["mass"]
    requests = [{"mass": [4100.0]}, {"bill": [41.0], "mass": [high * 2 + 1]}, {}]
    serialized = tf.constant([_serving_model.example(r) for r in requests])
    answer = rejecting.signatures[serving.SERVING_SIGNATURE](examples=serialized)
    reference = loaded.signatures[serving.SERVING_SIGNATURE](examples=serialized)
    assert answer[serving.REPAIRED_KEY].numpy().tolist() == [2, 2, 3]
    assert answer[serving.FINITE_KEY].numpy().tolist() == [True] * 3
    np.testing.assert_allclose(
        answer[serving.OUTPUT_KEY].numpy(), reference[serving.OUTPUT_KEY].numpy(), rtol=1e-6
    )
    # The repairing model has no second serving signature.
    assert serving.REPAIR_SIGNATURE not in loaded.signatures


def _warmup_requests(model_dir: str) -> list:
    from tensorflow_serving.apis import prediction_log_pb2

    from nanguard.components.trainer import warmup

    path = os.path.join(model_dir, warmup.WARMUP_DIR, warmup.WARMUP_FILE)
    logs = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        logs.append(prediction_log_pb2.PredictionLog.FromString(record))
    return logs


@pytest.mark.parametrize("policy", ["repair", "reject"])
def test_warmup_requests_are_the_probes_the_signature_answers_and_replay(served, tmp_path, policy):
    """Read back with tensorflow-serving-api's protos and replayed through the signature, as
    TF Serving does on load: every request answers, finitely."""
    from nanguard.components import probes as probes_lib
    from nanguard.components.trainer import export, warmup

    tft_out, _, ranges, model = served
    transform_dir = os.path.dirname(tft_out.transform_savedmodel_dir)
    record = transform_record.read_transform_record(transform_dir)["features"]
    assert transform_record.ranges_of(record) == ranges
    profiles = warmup.warmup_profiles(tft_out.raw_feature_spec(), record, ranges, LABEL)
    assert [p.name for p in profiles] == ["bill", "island", "mass"]
    mass = next(p for p in profiles if p.name == "mass")
    assert mass.kind == "float" and mass.max_abs == max(abs(b) for b in ranges["mass"])
    assert 3000 < mass.typical < 5000  # the median the transform recorded
    island = next(p for p in profiles if p.name == "island")
    assert island.kind == "bytes" and island.typical in ("Biscoe", "Dream")  # the fill value
    target = str(tmp_path / "serving")
    export.export_model(
        model, tft_out, LABEL, target, ranges=ranges, nonfinite_input=policy,
        warmup_profiles=profiles,
    )  # fmt: skip
    logs = _warmup_requests(target)
    expected = warmup.warmup_probes(profiles, policy)
    assert len(logs) == len(expected) > 15
    families = {p.family for p in expected}
    assert "as_bytes" not in families and "missing" in families and "out_of_range" in families
    assert ("nan" in families) == (policy == "repair")
    loaded = tf.saved_model.load(target)
    for log, probe in zip(logs, expected, strict=True):
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        examples = tf.make_ndarray(request.inputs["examples"])
        sent = tf.train.Example.FromString(examples[0]).SerializeToString(deterministic=True)
        assert len(examples) == 1 and sent == probe.example.SerializeToString(deterministic=True)
        answer = loaded.signatures[request.model_spec.signature_name](
            examples=tf.constant(examples)
        )
        assert np.isfinite(answer[serving.OUTPUT_KEY].numpy()).all(), probe.name
    assert {p.family for p in probes_lib.build_probes(profiles)} - families <= {
        "as_bytes", "nan", "pos_inf", "neg_inf"
    }  # fmt: skip


def test_a_string_in_a_numeric_feature_is_refused_never_answered_as_nan(served):
    """A client that forgot to convert sends `mass` as bytes: the parse refuses the request
    (INVALID_ARGUMENT naming the feature's type), it is never imputed into a finite answer."""
    _, loaded, _, _ = served
    bad = tf.train.Example()
    bad.features.feature["bill"].float_list.value[:] = [41.0]
    bad.features.feature["mass"].bytes_list.value[:] = [b"4100"]
    requests = tf.constant([_serving_model.example({"bill": [41.0]}), bad.SerializeToString()])
    with pytest.raises(tf.errors.InvalidArgumentError, match="mass|float"):
        loaded.signatures[serving.SERVING_SIGNATURE](examples=requests)


def test_huge_values_are_clipped_and_flagged_with_finite_answers(served):
    _, loaded, _, _ = served
    requests = [
        {"bill": [3.4e38], "mass": [-3.4e38], "island": [b"Dream"]},
        {"bill": [1.4e-45], "mass": [-0.0], "island": [b"Dream"]},
    ]
    answer = loaded.signatures[serving.SERVING_SIGNATURE](
        examples=tf.constant([_serving_model.example(r) for r in requests])
    )
    # 1.4e-45 and -0.0 are far below the bill and mass ranges too: all four are clipped.
    assert answer[serving.REPAIRED_KEY].numpy().tolist() == [2, 2]
    assert answer[serving.FINITE_KEY].numpy().tolist() == [True, True]
    assert np.isfinite(answer[serving.OUTPUT_KEY].numpy()).all()
