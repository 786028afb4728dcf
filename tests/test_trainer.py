"""Tests of the guarded trainer: run_fn on a real tf.Transform output, and the guard pieces.

No pipeline runner: a tiny transform graph is built with tft_beam on the bundled penguins data,
transformed TFRecords are written, and `run_fn` is called with a TFX `FnArgs` whose data
accessor is built exactly as the Trainer executor builds it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import guard, serving
from nanguard.components.trainer import run_fn as trainer

PENGUINS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ".venv/lib/python3.10/site-packages/palmerpenguins/data/penguins.csv",
)
NUMERIC = ["bill_length_mm", "flipper_length_mm"]
LABEL = "species"


def _preprocessing_fn(inputs):
    """Follows the transform contract: dense float features + `_missing` indicators, int64
    vocabulary indices (1 OOV bucket) for strings, int64 label index."""
    import tensorflow_transform as tft

    out = {}
    for name in NUMERIC:
        x = inputs[name]
        missing = tf.math.is_nan(x)
        filled = tf.where(missing, tft.mean(x), x)
        out[name] = tft.scale_to_z_score(filled)
        out[f"{name}_missing"] = tf.cast(missing, tf.float32)
    out["island"] = tft.compute_and_apply_vocabulary(
        inputs["island"], vocab_filename="island", num_oov_buckets=1
    )
    out[LABEL] = tft.compute_and_apply_vocabulary(inputs[LABEL], vocab_filename=LABEL)
    return out


def _raw_frame() -> pd.DataFrame:
    frame = pd.read_csv(PENGUINS)[NUMERIC + ["island", LABEL]]
    frame[NUMERIC] = frame[NUMERIC].astype("float32")
    return frame


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Writes a transform graph and gzipped transformed TFRecords; returns their locations."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    root = tmp_path_factory.mktemp("tft")
    frame = _raw_frame()
    spec = {name: tf.io.FixedLenFeature([], tf.float32) for name in NUMERIC}
    spec.update({name: tf.io.FixedLenFeature([], tf.string) for name in ("island", LABEL)})
    rows = frame.to_dict("records")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(root / "tmp")):
        raw = pipeline | beam.Create(rows)
        (data, metadata), transform_fn = (
            raw,
            dataset_metadata.DatasetMetadata.from_feature_spec(spec),
        ) | tft_beam.AnalyzeAndTransformDataset(_preprocessing_fn)
        coder = tft.coders.ExampleProtoCoder(metadata.schema)
        for split in ("train", "eval"):
            _ = (
                data
                | f"Encode{split}" >> beam.Map(coder.encode)
                | f"Write{split}"
                >> beam.io.WriteToTFRecord(str(root / split / "data"), file_name_suffix=".gz")
            )
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform"))
    # The raw metadata, as the TFX Transform component writes it (serving parses raw features).
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata.from_feature_spec(spec),
        str(root / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    return {"root": root, "frame": frame, "raw_spec": spec}


def _fn_args(transformed, tmp_path, custom_config, train_steps=40):
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(transformed["root"])
    examples.split_names = '["train", "eval"]'
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    return fn_args_utils.FnArgs(
        train_files=[str(transformed["root"] / "train" / "*")],
        eval_files=[str(transformed["root"] / "eval" / "*")],
        train_steps=train_steps,
        eval_steps=5,
        transform_output=str(transformed["root"] / "transform"),
        serving_model_dir=str(tmp_path / "serving"),
        model_run_dir=str(tmp_path / "run"),
        custom_config={"label_key": LABEL, **custom_config},
        data_accessor=accessor,
    )


def _serve(serving_dir: str, frame: pd.DataFrame) -> np.ndarray:
    complete = frame.dropna()
    examples = []
    for _, row in complete.iterrows():
        feature = {
            name: tf.train.Feature(float_list=tf.train.FloatList(value=[row[name]]))
            for name in NUMERIC
        }
        feature["island"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[row["island"].encode()])
        )
        examples.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    loaded = tf.saved_model.load(serving_dir)
    fn = loaded.signatures[serving.SERVING_SIGNATURE]
    return fn(examples=tf.constant(examples))[serving.OUTPUT_KEY].numpy()


def _report(tmp_path) -> dict:
    with open(tmp_path / "run" / guard.HEALTH_REPORT_FILE) as handle:
        return json.load(handle)


def test_run_fn_healthy_exports_finite_model_and_report(transformed, tmp_path):
    args = _fn_args(transformed, tmp_path, {"epochs": 4})
    trainer.run_fn(args)
    report = _report(tmp_path)
    assert report["status"] == "ok" and report["exported"] is True
    assert report["nonfinite_events"] == [] and report["recoveries"] == 0
    assert len(report["loss_per_epoch"]) == 4
    assert report["steps"] == 40  # 4 epochs x 10 steps
    assert report["loss_per_epoch"][-1] < report["loss_per_epoch"][0]
    assert 0 < report["max_grad_norm"] < float("inf")
    probs = _serve(args.serving_model_dir, transformed["frame"])
    n_species = transformed["frame"][LABEL].nunique()
    assert probs.shape == (len(transformed["frame"].dropna()), n_species)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_run_fn_recovers_from_learning_rate_1e3(transformed, tmp_path):
    config = {
        "epochs": 4,
        "optimizer": "sgd",
        "learning_rate": 1e3,
        "global_clipnorm": None,
        "snapshot_every": 5,
        "max_recoveries": 8,
    }
    args = _fn_args(transformed, tmp_path, config)
    trainer.run_fn(args)
    report = _report(tmp_path)
    assert report["status"] == "recovered" and report["exported"] is True
    events = report["nonfinite_events"]
    assert len(events) >= 1 and all(e["action"] == "recovered" for e in events)
    assert report["recoveries"] == len(events) == len(report["lr_changes"])
    for change in report["lr_changes"]:
        assert change["to"] == pytest.approx(change["from"] * 0.1, rel=1e-5)
    assert report["final_learning_rate"] == pytest.approx(1e3 * 0.1 ** len(events), rel=1e-4)
    assert all(e["diagnosis"]["stage"] != "not_reproduced" for e in events)
    probs = _serve(args.serving_model_dir, transformed["frame"])
    assert np.isfinite(probs).all()


def test_export_refuses_nan_weight(transformed, tmp_path):
    import tensorflow_transform as tft

    tft_out = tft.TFTransformOutput(str(transformed["root"] / "transform"))
    model = trainer.build_model_from_transform(tft_out, trainer.TrainerConfig())
    kernel = model.get_layer("dense_1").kernel
    value = kernel.numpy()
    value[0, :3] = np.nan
    value[1, 0] = np.inf
    kernel.assign(value)
    bad = guard.nonfinite_weights(model)
    assert bad == [
        {
            "layer": "dense_1",
            "variable": kernel.name,
            "nan": int(np.isnan(value).sum()),
            "inf": int(np.isinf(value).sum()),
        }
    ]
    target = tmp_path / "serving"
    with pytest.raises(GuardBlockedError, match="dense_1"):
        trainer.export_model(model, tft_out, LABEL, str(target))
    assert not target.exists()


# ---- in-memory pieces (fast) ---------------------------------------------------------------


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "a": rng.normal(size=n).astype("float32"),
        "b": rng.normal(size=n).astype("float32"),
        "c": rng.integers(0, 4, n).astype("int64"),
    }
    y = (x["a"] + x["b"] > 0).astype("int64")
    return x, y


def _dataset(x, y, batch=32):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _model(**overrides):
    config = trainer.TrainerConfig(**{"epochs": 2, "snapshot_every": 4, **overrides})
    return trainer.build_model(["a", "b"], [("c", 4)], 2, config), config


def test_defaults_on_built_model():
    model, config = _model()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.name for layer in dense] == ["dense_0", "dense_1", "output"]
    for layer in dense[:-1]:
        assert type(layer.kernel_initializer) is keras.initializers.HeNormal
        assert layer.activation is keras.activations.relu
    assert type(dense[-1].kernel_initializer) is keras.initializers.GlorotUniform
    for layer in dense:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert layer.kernel_regularizer.l2 == pytest.approx(1e-4)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropouts] == [0.1, 0.1]
    assert model.optimizer.global_clipnorm == pytest.approx(1.0)
    assert model.optimizer.clipnorm is None and model.optimizer.clipvalue is None
    # He normal: std close to sqrt(2 / fan_in) (truncated normal, within 20%).
    kernel = model.get_layer("dense_0").kernel.numpy()
    assert kernel.std() == pytest.approx(np.sqrt(2.0 / kernel.shape[0]), rel=0.2)
    tanh, _ = _model(activation="tanh", l2=0.0, dropout=0.0, global_clipnorm=None)
    assert type(tanh.get_layer("dense_0").kernel_initializer) is keras.initializers.GlorotUniform
    assert tanh.get_layer("dense_0").kernel_regularizer is None
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in tanh.layers)
    assert tanh.optimizer.global_clipnorm is None
    embedded, _ = _model(categorical_encoding="embedding", embedding_dim=3)
    assert embedded.get_layer("c_embedding").embeddings.shape == (4, 3)


def test_config_validation_names_key():
    with pytest.raises(ValueError, match="nonfinite_policy"):
        trainer.TrainerConfig.from_dict({"nonfinite_policy": "ignore"})
    with pytest.raises(ValueError, match="learning_rat"):
        trainer.TrainerConfig.from_dict({"learning_rat": 0.1})
    config = trainer.TrainerConfig.from_dict({"hidden_units": [4], "label_key": "y"})
    assert config.hidden_units == (4,) and config.label_key == "y"


def test_nonfinite_step_updates_nothing():
    model, _ = _model()
    x, y = _data(32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    x_bad = {**x, "a": np.where(np.arange(32) == 3, np.nan, x["a"]).astype("float32")}
    logs = model.train_on_batch(x_bad, y, return_dict=True)
    state = model.guard_state
    assert int(state.bad_steps.numpy()) == 1 and int(state.first_bad_step.numpy()) == 0
    assert int(model.optimizer.iterations.numpy()) == 0
    for old, var in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(old, var.numpy())
    assert logs["loss"] == 0.0  # the non-finite step is not averaged into the loss
    np.testing.assert_array_equal(state.captured_x["a"].numpy(), x_bad["a"])
    # Frozen until the host handles the event: a finite batch does not update either.
    model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 0
    state.reset_event()
    model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 1
    assert not np.array_equal(before[0], model.trainable_variables[0].numpy())


def _with_huge_batch(x, index=2, batch=32, value=1e30):
    x = {k: v.copy() for k, v in x.items()}
    x["a"][index * batch : index * batch + 5] = value
    return x


def test_recover_policy_restores_and_lowers_lr():
    model, config = _model()
    x, y = _data()
    report = trainer.fit_guarded(model, _dataset(_with_huge_batch(x), y), config, verbose=0)
    events = report["nonfinite_events"]
    assert [e["step"] for e in events] == [2, 10]  # batch 2 of each 8-step epoch
    assert [e["action"] for e in events] == ["recovered", "recovered"]
    assert [c["to"] for c in report["lr_changes"]] == pytest.approx([1e-3, 1e-4], rel=1e-4)
    diagnosis = events[0]["diagnosis"]
    assert diagnosis["extreme_inputs"][0]["feature"] == "a"
    assert diagnosis["extreme_inputs"][0]["max_abs"] == pytest.approx(1e30, rel=1e-6)
    assert diagnosis["op"] is not None and diagnosis["layer"] in {
        layer.name for layer in model.layers
    }
    assert guard.nonfinite_weights(model) == []
    preds = model.predict(x, verbose=0)
    assert np.isfinite(preds).all()
    # Loss per epoch only averages finite steps: finite, positive.
    assert all(0 < loss < 10 for loss in report["loss_per_epoch"])


def test_raise_policy_names_layer():
    model, config = _model(nonfinite_policy="raise")
    x, y = _data()
    x = _with_huge_batch(x, value=np.nan)
    with pytest.raises(GuardBlockedError) as info:
        trainer.fit_guarded(model, _dataset(x, y), config, verbose=0)
    report = info.value.report
    diagnosis = report["nonfinite_events"][0]["diagnosis"]
    assert diagnosis["stage"] == "forward"
    # NaN in feature a first shows in the output of a's own column layer.
    assert diagnosis["layer"] == "a_col"
    assert "layer 'a_col'" in str(info.value)
    assert diagnosis["nonfinite_layer_outputs"][:2] == ["a_col", "numeric"]
    batch = x["a"][64:96]  # batch 2 of 32 rows
    assert diagnosis["extreme_inputs"][0] == {
        "feature": "a",
        "max_abs": pytest.approx(float(np.abs(batch[np.isfinite(batch)]).max())),
        "nan": 5,
        "inf": 0,
        "rows": 32,
    }
    assert report["status"] == "raised"
    assert guard.nonfinite_weights(model) == []


def test_stop_policy_keeps_last_finite_weights():
    model, config = _model(nonfinite_policy="stop")
    x, y = _data()
    report = trainer.fit_guarded(model, _dataset(_with_huge_batch(x), y), config, verbose=0)
    assert report["status"] == "stopped" and report["stopped_early"] is True
    assert report["nonfinite_events"][0]["action"] == "stopped"
    assert report["steps"] == 4  # stopped at the first host check (snapshot_every=4)
    assert len(report["loss_per_epoch"]) == 1
    assert guard.nonfinite_weights(model) == []


def test_mixed_precision_with_guard():
    previous = keras.mixed_precision.global_policy().name
    model, config = _model(mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == previous
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.get_layer("dense_0").compute_dtype == "float16"
    x, y = _data()
    report = trainer.fit_guarded(model, _dataset(_with_huge_batch(x), y), config, verbose=0)
    assert len(report["nonfinite_events"]) >= 1
    assert report["recoveries"] == len(report["nonfinite_events"])
    assert guard.nonfinite_weights(model) == []
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_drop_missing_labels_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=20).astype("float32")
    label = rng.normal(size=20).astype("float32")
    label[[1, 5]] = np.nan
    label[7] = np.inf
    features, kept = trainer.drop_missing_labels({"a": tf.constant(a)}, tf.constant(label))
    keep = np.isfinite(label)
    np.testing.assert_array_equal(kept.numpy(), label[keep])
    np.testing.assert_array_equal(features["a"].numpy(), a[keep])
    int_label = np.array([0, -1, 2, 1, -1], dtype="int64")
    features, kept = trainer.drop_missing_labels({"a": tf.constant(a[:5])}, tf.constant(int_label))
    np.testing.assert_array_equal(kept.numpy(), int_label[int_label >= 0])
    np.testing.assert_array_equal(features["a"].numpy(), a[:5][int_label >= 0])
