"""Tests of the finite-prediction gate: counts, probes, blessing, stock Pusher."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from nanguard.components.errors import GuardBlockedError
from nanguard.components.gate import core, probes, testing
from nanguard.components.gate import executor as gate_executor
from nanguard.components.gate import spec as keys
from nanguard.components.gate.component import FinitePredictionGate

N = 600


@pytest.fixture(scope="module")
def data():
    """Eval rows with some x < 1 (NaN for the log model), x == 1 (-Inf), NaN x, absent x."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 40.0, N).astype(np.float32)
    x[::50] = 1.0
    x[7::97] = np.nan
    absent = np.zeros(N, dtype=bool)
    absent[3::101] = True
    n = rng.integers(0, 60, N)
    n[5::120] = 95  # exp(95) overflows float32 -> +Inf in the log model's `scale`
    color = rng.choice(np.array(["red", "green", "blue"]), N)
    records = testing.make_examples(x, n, color, x_absent=absent)
    return {"x": x, "n": n, "color": color, "absent": absent, "records": records}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    out = {}
    for kind in ("healthy", "log", "exp"):
        # TFX Model artifact layout: <uri>/Format-Serving/saved_model.pb
        uri = str(root / kind)
        testing.save_model(os.path.join(uri, "Format-Serving"), kind)
        out[kind] = uri
    return out


@pytest.fixture(scope="module")
def examples_artifact(tmp_path_factory, data):
    uri = str(tmp_path_factory.mktemp("examples"))
    testing.write_tfrecord(
        os.path.join(uri, "Split-eval", "data_tfrecord-00000-of-00002.gz"),
        data["records"][: N // 2],
    )
    testing.write_tfrecord(
        os.path.join(uri, "Split-eval", "data_tfrecord-00001-of-00002.gz"),
        data["records"][N // 2 :],
    )
    testing.write_tfrecord(
        os.path.join(uri, "Split-train", "data_tfrecord-00000-of-00001.gz"), data["records"][:100]
    )
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return artifact


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    f = schema.feature.add(name="x", type=schema_pb2.FLOAT)
    f.float_domain.min = -2.0
    f.float_domain.max = 40.0
    schema.feature.add(name="n", type=schema_pb2.INT)
    c = schema.feature.add(name="color", type=schema_pb2.BYTES)
    c.string_domain.value.extend(["blue", "green", "red"])
    schema.feature.add(name="label", type=schema_pb2.FLOAT)
    return schema


def _log_reference(data):
    """Independent numpy reference for the `log` model."""
    x = np.where(data["absent"], 0.0, data["x"]).astype(np.float32)
    with np.errstate(all="ignore"):
        out = np.log(x - np.float32(1.0))
        scale = np.exp(data["n"].astype(np.float32))
    return out, scale


# ----------------------------------------------------------------------------------------------
# Plain functions.
# ----------------------------------------------------------------------------------------------


def test_count_non_finite_matches_numpy():
    a = np.array([[0.1, np.nan, 0.3], [np.inf, -np.inf, 1.0], [0.0, 0.0, 0.0]], np.float32)
    b = np.array([[1.0], [2.0], [-np.inf]], np.float32)
    counts, bad = core.count_non_finite({"a": a, "b": b, "ids": np.array([1, 2, 3])})
    assert counts == {
        "a": {"total": 9, "nan": int(np.isnan(a).sum()), "pos_inf": 1, "neg_inf": 1},
        "b": {"total": 3, "nan": 0, "pos_inf": 0, "neg_inf": 1},
    }
    assert bad.tolist() == [True, True, True]
    assert "ids" not in counts


def test_log_model_exact_counts_in_beam(models, data):
    out_ref, scale_ref = _log_reference(data)
    model_dir = os.path.join(models["log"], "Format-Serving")
    result = core.count_predictions(
        model_dir, {"eval": data["records"]}, batch_size=64, max_offending=3
    )["eval"]
    assert result["examples"] == N
    assert result["outputs"]["outputs"] == {
        "total": N,
        "nan": int(np.isnan(out_ref).sum()),
        "pos_inf": 0,
        "neg_inf": int(np.isneginf(out_ref).sum()),
    }
    assert result["outputs"]["scale"]["pos_inf"] == int(np.isposinf(scale_ref).sum()) == 5
    bad_rows = ~np.isfinite(out_ref) | ~np.isfinite(scale_ref)
    assert result["non_finite"] == int(bad_rows.sum())
    assert len(result["offending"]) == 3
    first = result["offending"][0]
    assert first["split"] == "eval"
    assert set(first["non_finite_outputs"]) <= {"outputs", "scale"}
    assert set(first["features"]) >= {"n", "color"}


def test_multiprocessing_runner_gives_same_counts(models, data, tmp_path):
    out_ref, _ = _log_reference(data)
    path = testing.write_tfrecord(str(tmp_path / "eval" / "data.gz"), data["records"])
    result = core.count_predictions(
        os.path.join(models["log"], "Format-Serving"),
        {"eval": os.path.join(os.path.dirname(path), "*")},
        batch_size=100,
        beam_pipeline_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )["eval"]
    assert result["examples"] == N
    assert result["outputs"]["outputs"]["nan"] == int(np.isnan(out_ref).sum())
    assert result["outputs"]["outputs"]["neg_inf"] == int(np.isneginf(out_ref).sum())


def test_profiles_from_schema_and_statistics():
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add()
    fx = ds.features.add()
    fx.path.step.append("x")
    fx.num_stats.mean = 12.5
    fx.num_stats.max = float("inf")  # TFDV keeps Inf in max: must be ignored
    fx.num_stats.min = -3.0
    h = fx.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    for lo in (0.0, 5.0, 10.0):
        h.buckets.add(low_value=lo, high_value=lo + 5.0)
    fc = ds.features.add()
    fc.path.step.append("color")
    fc.string_stats.top_values.add(value="green", frequency=10)
    profiles = {p.name: p for p in probes.profiles_from_schema(_schema(), stats, label_key="label")}
    assert set(profiles) == {"x", "n", "color"}
    assert profiles["x"].typical == 7.5  # middle quantile bucket
    assert profiles["x"].max_abs == 40.0  # max(|inf| ignored, |-3|, domain 40, |-2|)
    assert profiles["n"] == probes.FeatureProfile("n", "int", 0, None)
    assert profiles["color"].typical == "green"


def test_build_probes_families_and_values():
    profiles = [
        probes.FeatureProfile("x", "float", 2.0, 40.0),
        probes.FeatureProfile("n", "int", 3, 50.0),
        probes.FeatureProfile("color", "bytes", "red", None),
    ]
    built = {p.name: p for p in probes.build_probes(profiles)}
    assert set(built) == {
        'base', 'missing:x', 'nan:x', 'pos_inf:x', 'neg_inf:x', 'out_of_range:x',
        'missing:n', 'out_of_range:n', 'missing:color', 'all_missing',
    }  # fmt: skip
    feats = built["out_of_range:x"].example.features.feature
    assert feats["x"].float_list.value[0] == pytest.approx(40000.0)
    assert feats["color"].bytes_list.value[0] == b"red"
    assert built["out_of_range:n"].example.features.feature["n"].int64_list.value[0] == 50000
    assert np.isnan(built["nan:x"].example.features.feature["x"].float_list.value[0])
    assert "x" not in built["missing:x"].example.features.feature
    assert len(built["all_missing"].example.features.feature) == 0
    only = probes.build_probes(profiles, families=["nan"])
    assert [p.name for p in only] == ["base", "nan:x"]
    with pytest.raises(ValueError, match="bogus"):
        probes.build_probes(profiles, families=["bogus"])


def test_exp_model_is_finite_on_data_but_blocked_by_probes(models, data):
    profiles = probes.profiles_from_schema(_schema(), label_key="label")
    # The exp model is finite on rows with x < 88: build such data.
    clean = [r for r, xi in zip(data["records"], data["x"], strict=True) if not xi > 80]
    report = core.check_model(
        os.path.join(models["exp"], "Format-Serving"), {"eval": clean}, profiles=profiles
    )
    assert report["examples"] == len(clean)
    assert report["non_finite"] == 0
    assert sorted(report["probes_failed"]) == ["out_of_range:x", "pos_inf:x"]
    assert report["blessed"] is False
    assert "out_of_range:x" in core.block_message(report)
    # Probes off: the same model passes.
    report = core.check_model(
        os.path.join(models['exp'], 'Format-Serving'), {'eval': clean}, profiles=profiles,
        probe_families=[],
    )  # fmt: skip
    assert report["blessed"] is True and report["probes_run"] == 0


def test_profiles_from_table_and_records(data):
    profiles = {p.name: p for p in probes.profiles_from_records(data["records"])}
    present = data["x"][~data["absent"]]
    finite = present[np.isfinite(present)].astype(np.float64)
    assert profiles["x"].kind == "float"
    assert profiles["x"].typical == pytest.approx(float(np.median(finite)))
    assert profiles["x"].max_abs == pytest.approx(float(np.abs(finite).max()))
    assert profiles["n"].kind == "int" and profiles["n"].max_abs == 95.0
    values, counts = np.unique(data["color"], return_counts=True)
    assert profiles["color"].typical == values[np.argmax(counts)]


# ----------------------------------------------------------------------------------------------
# Executor, blessing and the stock Pusher.
# ----------------------------------------------------------------------------------------------


def _model_artifact(uri: str, artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = uri
    model.id = artifact_id
    return model


def _run_gate(tmp_path, model, examples, with_schema=True, upstream=None, **params):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri, exist_ok=True)
    inputs = {keys.MODEL_KEY: [model], keys.EXAMPLES_KEY: [examples]}
    if with_schema:
        schema = standard_artifacts.Schema()
        schema.uri = str(tmp_path / "schema")
        io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), _schema())
        inputs[keys.SCHEMA_KEY] = [schema]
    if upstream is not None:
        up = standard_artifacts.ModelBlessing()
        up.set_int_custom_property("blessed", upstream)
        inputs[keys.MODEL_BLESSING_KEY] = [up]
    props = {
        keys.SIGNATURE_NAME_KEY: "serving_default",
        keys.SPLITS_KEY: json.dumps(["eval"]),
        keys.BATCH_SIZE_KEY: 128,
        keys.PROBE_FAMILIES_KEY: json.dumps(list(probes.PROBE_FAMILIES)),
        keys.MAX_OFFENDING_KEY: 5,
        keys.LABEL_KEY_KEY: "label",
        keys.BLOCK_ON_PROBE_ERROR_KEY: 1,
        keys.RAISE_ON_BLOCK_KEY: 0,
    }
    props.update(params)
    gate_executor.Executor().Do(inputs, {keys.BLESSING_KEY: [blessing]}, props)
    return blessing


def _push(tmp_path, model, blessing, serving_dir):
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)
    )
    pusher_executor.Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": json_format.MessageToJson(destination)},
    )
    return pushed


def test_healthy_model_blessed_and_pushed(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 11)
    blessing = _run_gate(tmp_path, model, examples_artifact)
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_string_custom_property("current_model") == models["healthy"]
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_int_custom_property("examples") == N
    assert sorted(os.listdir(blessing.uri)) == ["BLESSED", "gate_report.json"]
    assert os.path.getsize(os.path.join(blessing.uri, "BLESSED")) == 0
    with open(os.path.join(blessing.uri, "gate_report.json")) as f:
        report = json.load(f)
    assert (report["examples"], report["non_finite"], report["probes_failed"]) == (N, 0, [])
    assert report["outputs"]["outputs"]["total"] == 3 * N
    assert report["probes_run"] == 10  # base + 5 for x + 2 for n + 1 for color + all_missing

    serving = str(tmp_path / "serving")
    pushed = _push(tmp_path, model, blessing, serving)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = os.listdir(serving)
    assert tf.saved_model.contains_saved_model(os.path.join(serving, version))


def test_nan_model_not_blessed_and_pusher_leaves_serving_untouched(
    tmp_path, models, data, examples_artifact
):
    serving = str(tmp_path / "serving")
    good = _model_artifact(models["healthy"], 1)
    _push(tmp_path / "first", good, _run_gate(tmp_path / "g1", good, examples_artifact), serving)
    before = {
        os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
        for d, _, files in os.walk(serving)
        for f in files
    }
    assert before

    bad = _model_artifact(models["log"], 2)
    blessing = _run_gate(tmp_path / "g2", bad, examples_artifact)
    out_ref, scale_ref = _log_reference(data)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("current_model_id") == 2
    assert blessing.get_int_custom_property("nan") == int(np.isnan(out_ref).sum())
    assert blessing.get_int_custom_property("neg_inf") == int(np.isneginf(out_ref).sum())
    assert blessing.get_int_custom_property("pos_inf") == int(np.isposinf(scale_ref).sum())
    bad_rows = ~np.isfinite(out_ref) | ~np.isfinite(scale_ref)
    assert blessing.get_int_custom_property("non_finite") == int(bad_rows.sum())
    assert sorted(os.listdir(blessing.uri)) == ["NOT_BLESSED", "gate_report.json"]
    with open(os.path.join(blessing.uri, "gate_report.json")) as f:
        report = json.load(f)
    assert len(report["offending_examples"]) == 5
    # log(x - 1) with the all-missing probe (x defaults to 0) is NaN: that probe fails too.
    assert "all_missing" in report["probes_failed"]
    failure = report["probe_failures"][report["probes_failed"].index("all_missing")]
    assert failure["status"] == "non_finite" and failure["request"] == {}

    pushed = _push(tmp_path / "second", bad, blessing, serving)
    assert pushed.get_int_custom_property("pushed") == 0
    after = {
        os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
        for d, _, files in os.walk(serving)
        for f in files
    }
    assert after == before
    (version,) = os.listdir(serving)
    loaded = tf.saved_model.load(os.path.join(serving, version))
    probs = loaded.signatures["serving_default"](examples=tf.constant(data["records"][:4]))
    assert np.allclose(probs["outputs"].numpy().sum(axis=1), 1.0)


def test_upstream_blessing_and_raise_on_block(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 3)
    blessing = _run_gate(tmp_path / "a", model, examples_artifact, upstream=0)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "upstream" in blessing.get_string_custom_property("blessing_message")
    blessing = _run_gate(tmp_path / "b", model, examples_artifact, upstream=1)
    assert blessing.get_int_custom_property("blessed") == 1

    bad = _model_artifact(models["log"], 4)
    with pytest.raises(GuardBlockedError, match=r"outputs.*scale|scale.*outputs"):
        _run_gate(tmp_path / "c", bad, examples_artifact, **{keys.RAISE_ON_BLOCK_KEY: 1})
    assert os.path.exists(os.path.join(str(tmp_path / "c" / "blessing"), "NOT_BLESSED"))


def test_bad_split_is_named(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 5)
    with pytest.raises(ValueError, match="'test'.*train.*eval"):
        _run_gate(tmp_path, model, examples_artifact, **{keys.SPLITS_KEY: '["test"]'})


def test_component_builds_spec():
    from tfx.types import channel_utils

    gate = FinitePredictionGate(
        model=channel_utils.as_channel([standard_artifacts.Model()]),
        examples=channel_utils.as_channel([standard_artifacts.Examples()]),
        label_key="species",
        probe_families=["nan", "all_missing"],
    )
    assert gate.outputs["blessing"].type == standard_artifacts.ModelBlessing
    assert json.loads(gate.exec_properties["probe_families"]) == ["nan", "all_missing"]
    assert json.loads(gate.exec_properties["splits"]) == ["eval"]
    with pytest.raises(ValueError, match="bogus"):
        FinitePredictionGate(
            model=channel_utils.as_channel([standard_artifacts.Model()]),
            examples=channel_utils.as_channel([standard_artifacts.Examples()]),
            probe_families=["bogus"],
        )
