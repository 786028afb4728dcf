"""A small model on nanguard's transform graph, exported with the serving flags: for
`test_serving_flags.py` and `benchmarks/bench_serving_flags.py`."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from nanguard.components import transform_record
from nanguard.components.trainer import export
from nanguard.components.trainer import model as model_lib
from nanguard.components.trainer.config import TrainerConfig

NUMERIC = ["bill", "mass"]
STRING = ["island"]
LABEL = "species"


def row(i: int, rng) -> dict:
    return {
        "bill": [float(rng.normal(40 + 5 * (i % 2), 3))] if i % 7 else [],
        "mass": [float(rng.normal(4000, 300))],
        "island": [[b"Biscoe", b"Dream"][i % 2]] if i % 5 else [],
        LABEL: [[b"Adelie", b"Gentoo"][i % 2]],
    }


def example(row: dict) -> bytes:
    feature = {}
    for name, values in row.items():
        if not values:
            continue
        if isinstance(values[0], bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def build(tmp: str, n: int = 96):
    """A transform graph of nanguard's preprocessing_fn, a model trained one epoch on it and
    exported with the ranges of its record: (transform output, loaded SavedModel, ranges,
    the Keras model)."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import metadata_io

    from nanguard.components.transform import preprocessing

    spec = {n: tf.io.VarLenFeature(tf.float32) for n in NUMERIC}
    spec.update({n: tf.io.VarLenFeature(tf.string) for n in [*STRING, LABEL]})
    rng = np.random.default_rng(0)
    rows = [row(i, rng) for i in range(n)]
    meta = tft.DatasetMetadata.from_feature_spec(spec)
    graph = os.path.join(tmp, "transform")
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
        transform_fn = (p | beam.Create(rows), meta) | tft_beam.AnalyzeDataset(
            lambda x: preprocessing.preprocessing_fn(x, {"label_key": LABEL})
        )
        _ = transform_fn | tft_beam.WriteTransformFn(graph)
    metadata_io.write_metadata(meta, os.path.join(graph, tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_out = tft.TFTransformOutput(graph)
    model = model_lib.build_model_from_transform(tft_out, LABEL, TrainerConfig())
    transformed = tft_out.transform_features_layer()(
        tf.io.parse_example(tf.constant([example(r) for r in rows]), spec)
    )
    y = transformed.pop(LABEL)
    model.fit(tf.data.Dataset.from_tensor_slices((transformed, y)).batch(16), epochs=1, verbose=0)
    ranges = transform_record.repair_ranges(graph)
    target = os.path.join(tmp, "serving")
    export.export_model(model, tft_out, LABEL, target, ranges=ranges)
    return tft_out, tf.saved_model.load(target), ranges, model
