"""A regression label is learned standardised and served in its own units (#23).

nanguard's preprocessing_fn standardises the label with the training mean and std; the trainer
learns that; the export ends in `label_units` (y = output * std + mean), and the
`transform_features` signature gives TFMA the label in its own units. Checked against numpy, and
a label in the thousands trains as well as the same label / 1000.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.trainer import export, serving
from nanguard.components.trainer import model as model_lib
from nanguard.components.trainer.config import TrainerConfig

N = 240
FEATURES = ["x1", "x2"]


def _rows(scale: float) -> list[dict]:
    """y = 3 + 0.8 x1 - 0.5 x2 + noise, times `scale`; every 9th label and some x2 missing."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, 2))
    y = (3.0 + 0.8 * x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.3, N)) * scale
    return [
        {
            "x1": [float(x[i, 0])],
            "x2": [] if i % 7 == 0 else [float(x[i, 1])],
            "y": [] if i % 9 == 0 else [float(y[i])],
        }
        for i in range(N)
    ]


def _serialized(row: dict, label: bool = True) -> bytes:
    feature = {
        k: tf.train.Feature(float_list=tf.train.FloatList(value=v))
        for k, v in row.items()
        if label or k != "y"
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _train_and_export(tmp_path, rows):
    """Transform (nanguard's preprocessing_fn, regression), train 30 epochs on the first 180
    rows, export; returns (loaded SavedModel, Keras model, transform output, scaling)."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    import tf_keras as keras
    from tensorflow_transform.tf_metadata import metadata_io

    from nanguard.components.transform import preprocessing

    spec = {n: tf.io.VarLenFeature(tf.float32) for n in [*FEATURES, "y"]}
    meta = tft.DatasetMetadata.from_feature_spec(spec)
    config = {"label_key": "y", "task": "regression"}
    graph = str(tmp_path / "transform")
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        transform_fn = (p | beam.Create(rows[:180]), meta) | tft_beam.AnalyzeDataset(
            lambda x: preprocessing.preprocessing_fn(x, config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(graph)
    metadata_io.write_metadata(meta, os.path.join(graph, tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_out = tft.TFTransformOutput(graph)
    scaling = serving.label_scaling(graph, "y")
    keras.utils.set_random_seed(0)
    model = model_lib.build_model_from_transform(tft_out, "y", TrainerConfig())
    train = tft_out.transform_features_layer()(
        tf.io.parse_example(tf.constant([_serialized(r) for r in rows[:180]]), spec)
    )
    y = train.pop("y").numpy()
    keep = np.isfinite(y)
    x = {k: v.numpy()[keep] for k, v in train.items()}
    model.fit(x, y[keep], epochs=30, batch_size=32, shuffle=False, verbose=0)
    target = str(tmp_path / "serving")
    export.export_model(model, tft_out, "y", target, label_scaling=scaling)
    return tf.saved_model.load(target), model, tft_out, scaling


def _served(loaded, rows) -> np.ndarray:
    fn = loaded.signatures[serving.SERVING_SIGNATURE]
    requests = tf.constant([_serialized(r, label=False) for r in rows])
    return fn(examples=requests)[serving.OUTPUT_KEY].numpy().reshape(-1)


def _labels(rows) -> np.ndarray:
    return np.array([r["y"][0] if r["y"] else np.nan for r in rows])


def _mse_ratio(labels, predictions) -> float:
    keep = np.isfinite(labels)
    y, p = labels[keep], predictions[keep]
    return float(np.mean((y - p) ** 2) / np.mean((y - y.mean()) ** 2))


@pytest.fixture(scope="module")
def thousands(tmp_path_factory):
    rows = _rows(1000.0)
    return rows, _train_and_export(tmp_path_factory.mktemp("thousands"), rows)


def test_serving_returns_label_units(thousands):
    rows, (loaded, model, tft_out, scaling) = thousands
    labels = _labels(rows[:180])
    finite = labels[np.isfinite(labels)]
    # The labels travel as float32 (tf.Example): the mean and std agree to float32 precision.
    assert scaling == pytest.approx((finite.mean(), finite.std()), rel=1e-6)
    served = _served(loaded, rows[180:])
    spec = {n: tf.io.VarLenFeature(tf.float32) for n in FEATURES}
    direct = tft_out.transform_features_layer()(
        tf.io.parse_example(tf.constant([_serialized(r, False) for r in rows[180:]]), spec)
    )
    expected = model(direct).numpy().reshape(-1) * scaling[1] + scaling[0]  # numpy's inverse
    np.testing.assert_allclose(served, expected, rtol=1e-5)
    assert 1000.0 < np.median(served) < 5000.0  # thousands, as the label
    # TFMA reads the label through `transform_features`: in its own units, NaN if missing.
    features = loaded.signatures[serving.TRANSFORM_SIGNATURE](
        examples=tf.constant([_serialized(r) for r in rows[180:]])
    )
    np.testing.assert_allclose(features["y"].numpy(), _labels(rows[180:]), rtol=1e-5)


def test_a_label_in_the_thousands_trains_as_well_as_divided_by_1000(thousands, tmp_path):
    rows, (loaded, *_) = thousands
    small_rows = _rows(1.0)
    small, *_ = _train_and_export(tmp_path, small_rows)
    big_ratio = _mse_ratio(_labels(rows[180:]), _served(loaded, rows[180:]))
    small_ratio = _mse_ratio(_labels(small_rows[180:]), _served(small, small_rows[180:]))
    assert big_ratio < 0.5  # it learned: far better than predicting the mean
    assert big_ratio == pytest.approx(small_ratio, abs=0.01)
