"""Helpers the trainer's test modules share (not fixtures: those live in tests/conftest.py).

`transformed()` builds, once per test process, a tiny transform graph with tft_beam on the
bundled penguins data and writes gzipped transformed TFRecords; `fn_args()` wraps them in a TFX
`FnArgs` whose data accessor is built exactly as the Trainer executor builds it. The records
are sorted, so every process sees the same files. The in-memory
helpers (`data`, `batches`, `model`) give seeded models and data for the fast guard tests.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

from nanguard.components.trainer import health, serving
from nanguard.components.trainer import model as model_lib
from nanguard.components.trainer.config import TrainerConfig

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


def raw_frame() -> pd.DataFrame:
    from nanguard.pipelines import data

    frame = pd.read_csv(data.bundled_penguins_csv())[NUMERIC + ["island", LABEL]]
    frame[NUMERIC] = frame[NUMERIC].astype("float32")
    return frame


def _values(example) -> tuple:
    """A tf.Example's feature values, by feature name (a sort key independent of its bytes)."""
    features = example.features.feature
    return tuple(
        tuple(features[name].float_list.value) or tuple(features[name].int64_list.value)
        for name in sorted(features)
    )


@functools.cache
def transformed() -> dict:
    """Writes a transform graph and gzipped transformed TFRecords; returns their locations."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    root = Path(tempfile.mkdtemp(prefix="nanguard_trainer_tft_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    frame = raw_frame()
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
    # Beam writes the rows in an order that varies from run to run: sort the records by their
    # values so that every test process trains and evaluates on the same files.
    for split in ("train", "eval"):
        files = sorted((root / split).glob("data*"))
        examples = [
            tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
        ]
        examples.sort(key=_values)
        for path in files:
            path.unlink()
        with tf.io.TFRecordWriter(str(root / split / "data-00000-of-00001.gz"), "GZIP") as out:
            for example in examples:
                out.write(example.SerializeToString(deterministic=True))
    # The raw metadata, as the TFX Transform component writes it (serving parses raw features).
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata.from_feature_spec(spec),
        str(root / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    return {"root": root, "frame": frame, "raw_spec": spec}


def transform_output(transformed: dict):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(str(transformed["root"] / "transform"))


def fn_args(transformed, tmp_path, custom_config, train_steps=40, label=LABEL):
    """A TFX FnArgs over `transformed`; `label` None leaves `label_key` out of custom_config."""
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
    labelled = {} if label is None else {"label_key": label}
    return fn_args_utils.FnArgs(
        train_files=[str(transformed["root"] / "train" / "*")],
        eval_files=[str(transformed["root"] / "eval" / "*")],
        train_steps=train_steps,
        eval_steps=5,
        transform_output=str(transformed["root"] / "transform"),
        serving_model_dir=str(tmp_path / "serving"),
        model_run_dir=str(tmp_path / "run"),
        custom_config={**labelled, **custom_config},
        data_accessor=accessor,
    )


def serve(serving_dir: str, frame: pd.DataFrame) -> np.ndarray:
    """Predictions of the exported `serving_default` on the complete rows of `frame`."""
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


def strict_json(path) -> dict:
    """Reads `path` as strict JSON: a bare NaN/Infinity token fails the test."""

    def refuse(token):
        raise AssertionError(f"{path}: bare {token} token; nanguard writes the string spelling")

    with open(path) as handle:
        return json.load(handle, parse_constant=refuse)


def run_report(tmp_path) -> dict:
    return strict_json(os.path.join(tmp_path, "run", health.HEALTH_REPORT_FILE))


# ---- in-memory pieces (fast) ---------------------------------------------------------------


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "a": rng.normal(size=n).astype("float32"),
        "b": rng.normal(size=n).astype("float32"),
        "c": rng.integers(0, 4, n).astype("int64"),
    }
    y = (x["a"] + x["b"] > 0).astype("int64")
    return x, y


def batches(x, y, batch=32):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def model(**overrides):
    """A seeded classifier on features a, b (float) and c (4 buckets), and its config."""
    keras.utils.set_random_seed(0)
    config = TrainerConfig.from_dict({"epochs": 2, "snapshot_every": 4, **overrides})
    return model_lib.build_model(["a", "b"], [("c", 4)], 2, config), config


def with_huge_batch(x, index=2, batch=32, value=1e30):
    x = {k: v.copy() for k, v in x.items()}
    x["a"][index * batch : index * batch + 5] = value
    return x
