"""preprocessing._label: the label follows the task (custom_config `task`), numeric or text."""

from __future__ import annotations

import functools
import math
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from nanguard.components import transform_record as record
from nanguard.components.transform import preprocessing

A = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def _transform(tmp_path, label_dtype, labels, task):
    """Analyzes rows {a, y} with preprocessing_fn under `task`; returns (outputs, tft output)."""
    spec = {"a": tf.io.VarLenFeature(tf.float32), "y": tf.io.VarLenFeature(label_dtype)}
    rows = [{"a": [a], "y": [] if y is None else [y]} for a, y in zip(A, labels, strict=True)]
    config = {"label_key": "y", **({"task": task} if task else {})}
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=config)
    graph = str(tmp_path / "graph")
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
            meta = tft.DatasetMetadata.from_feature_spec(spec)
            transform_fn = (p | beam.Create(rows), meta) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(graph)
    sparse = {}
    for name, feature in spec.items():
        idx = [[i, 0] for i, r in enumerate(rows) if r[name]]
        vals = [r[name][0] for r in rows if r[name]]
        sparse[name] = tf.SparseTensor(
            tf.reshape(tf.constant(idx, tf.int64), [-1, 2]),
            tf.constant(vals, feature.dtype),
            [len(rows), 1],
        )
    output = tft.TFTransformOutput(graph)
    out = output.transform_features_layer()(sparse)
    return {k: v.numpy() for k, v in out.items()}, output


def _ids(vocabulary, labels):
    index = {v.decode(): i for i, v in enumerate(vocabulary)}
    return [-1 if y is None else index[y] for y in labels]


def test_an_int_label_under_classification_is_a_class_index(tmp_path):
    labels = [0, 1, 1, None, 1, 0, 1]
    out, output = _transform(tmp_path, tf.int64, labels, "classification")
    vocabulary = output.vocabulary_by_name("y")
    assert vocabulary == [b"1", b"0"]  # by frequency, as for a text label
    assert out["y"].dtype == np.int64
    np.testing.assert_array_equal(
        out["y"], _ids(vocabulary, [None if v is None else str(v) for v in labels])
    )
    assert output.transformed_feature_spec()["y"].dtype == tf.int64


def test_a_float_label_under_classification_one_class_per_value_nan_missing(tmp_path):
    labels = [1.0, 0.0, math.nan, 1.0, None, 0.5, math.inf]
    out, output = _transform(tmp_path, tf.float32, labels, "classification")
    vocabulary = sorted(output.vocabulary_by_name("y"))
    assert vocabulary == [b"0", b"0.5", b"1"]  # shortest text: 1.0 -> "1"
    names = ["1", "0", None, "1", None, "0.5", None]  # NaN, absent and Inf: no class (-1)
    np.testing.assert_array_equal(out["y"], _ids(output.vocabulary_by_name("y"), names))


def _standardised(labels):
    """numpy's reference: (y - mean) / std (population) over the finite labels; else NaN."""
    y = np.array([np.nan if v is None else v for v in labels], np.float64)
    finite = y[np.isfinite(y)]
    out = (y - finite.mean()) / finite.std()
    return np.where(np.isfinite(y), out, np.nan).astype(np.float32), finite


def test_a_numeric_label_under_regression_is_standardised_with_nan_for_missing(tmp_path):
    labels = [1.5, None, 3.0, math.nan, 4.25, -math.inf, 7.0]
    out, output = _transform(tmp_path, tf.float32, labels, "regression")
    assert out["y"].dtype == np.float32
    expected, finite = _standardised(labels)
    np.testing.assert_allclose(out["y"], expected, rtol=1e-6)  # NaN where expected is NaN
    label = record.read_transform_record(output._transform_output_dir)["label"]
    assert label["feature"] == "y" and label["task"] == "regression"
    assert label["labelled"] == 4
    assert label["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert label["std"] == pytest.approx(finite.std(), rel=1e-12)
    assert "y" not in record.read_transform_record(output._transform_output_dir)["features"]


def test_a_label_in_the_thousands_becomes_the_same_standard_values(tmp_path):
    """Scale does not reach the model: y and y * 1000 give the same transformed label."""
    labels = [120.0, 85.5, None, 310.0, 47.25, 99.0, 1000.0]
    small, _ = _transform(tmp_path / "small", tf.float32, labels, "regression")
    big_labels = [None if v is None else v * 1000.0 for v in labels]
    big, output = _transform(tmp_path / "big", tf.float32, big_labels, "regression")
    np.testing.assert_allclose(big["y"], small["y"], rtol=1e-5)
    assert record.read_label_record(output._transform_output_dir)["mean"] == pytest.approx(
        np.mean([v for v in big_labels if v is not None]), rel=1e-12
    )


def test_a_constant_or_absent_regression_label_is_only_shifted(tmp_path):
    out, output = _transform(tmp_path, tf.float32, [5.0] * 6 + [None], "regression")
    np.testing.assert_array_equal(out["y"], [0.0] * 6 + [np.nan])  # std 0 is taken as 1
    assert record.read_label_record(output._transform_output_dir)["std"] == 1.0
    none, output = _transform(tmp_path / "none", tf.float32, [None] * 7, "regression")
    assert np.isnan(none["y"]).all()
    label = record.read_label_record(output._transform_output_dir)
    assert (label["mean"], label["std"], label["labelled"]) == (0.0, 1.0, 0)


def test_a_classification_label_records_the_training_majority(tmp_path):
    labels = [b"b", b"a", b"b", None, b"b", b"a", b"c"]
    _, output = _transform(tmp_path, tf.string, labels, "classification")
    label = record.read_label_record(output._transform_output_dir)
    assert output.vocabulary_by_name("y")[0] == b"b"  # index 0: the training majority
    assert label["majority_class"] == "b" and label["labelled"] == 6
    assert label["majority_rate"] == pytest.approx(3 / 6)


def test_without_a_task_the_dtype_decides_as_before(tmp_path):
    labels = [0, 1, 1, None, 1, 0, 1]
    out, _ = _transform(tmp_path, tf.int64, labels, None)
    np.testing.assert_allclose(out["y"], _standardised(labels)[0], rtol=1e-6)  # regression
    text, output = _transform(
        tmp_path / "t", tf.string, [b"b", b"a", b"b", None, b"b", b"a", b"b"], None
    )
    assert output.vocabulary_by_name("y") == [b"b", b"a"]
    np.testing.assert_array_equal(text["y"], [0, 1, 0, -1, 0, 1, 0])


def test_regression_on_a_text_label_is_refused(tmp_path):
    with pytest.raises(Exception, match=r"label 'y' holds text; task regression needs a numeric"):
        _transform(tmp_path, tf.string, [b"a"] * 7, "regression")
    assert not os.path.exists(tmp_path / "graph" / "transform_fn")
