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
            tf.constant(idx, tf.int64), tf.constant(vals, feature.dtype), [len(rows), 1]
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


def test_a_numeric_label_under_regression_stays_float_with_nan_for_missing(tmp_path):
    labels = [1.5, None, 3.0, math.nan, 4.25, -math.inf, 7.0]
    out, _ = _transform(tmp_path, tf.float32, labels, "regression")
    assert out["y"].dtype == np.float32
    np.testing.assert_array_equal(out["y"], [1.5, np.nan, 3.0, np.nan, 4.25, np.nan, 7.0])


def test_without_a_task_the_dtype_decides_as_before(tmp_path):
    out, _ = _transform(tmp_path, tf.int64, [0, 1, 1, None, 1, 0, 1], None)
    np.testing.assert_array_equal(out["y"], [0, 1, 1, np.nan, 1, 0, 1])  # float32 regression
    text, output = _transform(
        tmp_path / "t", tf.string, [b"b", b"a", b"b", None, b"b", b"a", b"b"], None
    )
    assert output.vocabulary_by_name("y") == [b"b", b"a"]
    np.testing.assert_array_equal(text["y"], [0, 1, 0, -1, 0, 1, 0])


def test_regression_on_a_text_label_is_refused(tmp_path):
    with pytest.raises(Exception, match=r"label 'y' holds text; task regression needs a numeric"):
        _transform(tmp_path, tf.string, [b"a"] * 7, "regression")
    assert not os.path.exists(tmp_path / "graph" / "transform_fn")
