"""End-to-end runs of `nanguard run` on LocalDagRunner (slow: marked e2e)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

pytestmark = pytest.mark.e2e

NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
SCHEMA = os.path.join(os.path.dirname(__file__), "..", "schemas", "penguins.pbtxt")
STOCK_COMPONENTS = [
    "CsvExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "Evaluator",
    "Pusher",
]


def serialized_examples(csv_path: str, label: str, schema_path: str = SCHEMA) -> list[bytes]:
    """Raw tf.Examples for every row of a CSV, typed by the schema; missing cells left out."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = tfdv.load_schema_text(schema_path)
    types = {f.name: f.type for f in schema.feature}
    frame = pd.read_csv(csv_path).drop(columns=[label])
    examples = []
    for record in frame.to_dict("records"):
        feature = {}
        for name, value in record.items():
            if pd.isna(value):
                continue
            if types[name] == schema_pb2.BYTES:
                feature[name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[str(value).encode()])
                )
            elif types[name] == schema_pb2.INT:
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)))
    return [e.SerializeToString() for e in examples]


def run_nanguard(tmp_path, *flags):
    result = subprocess.run(
        [*NANGUARD, "run", "--root", str(tmp_path / "runs"), "--train-steps", "60", *flags],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    print(result.stdout, result.stderr)
    return result


def pushed_models(serving_dir) -> list[str]:
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


def test_baseline_pipeline_pushes_a_finite_model(tmp_path, penguins_csv):
    result = run_nanguard(tmp_path, "--baseline")
    assert result.returncode == 0, result.stderr
    for component in STOCK_COMPONENTS:
        assert f"{component:<22} finished in" in result.stdout
    serving = tmp_path / "runs" / "serving"
    (version,) = pushed_models(serving)
    assert f"Pushed model: {serving / version}" in result.stdout
    model = tf.saved_model.load(str(serving / version))
    assert set(model.signatures) >= {"serving_default", "transform_features"}
    outputs = model.signatures["serving_default"](
        examples=tf.constant(serialized_examples(penguins_csv, "species"))
    )["outputs"].numpy()
    assert outputs.shape == (344, 3)
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-4)
    log_files = os.listdir(tmp_path / "runs" / "logs")
    assert len(log_files) == 1 and "Trainer" in open(tmp_path / "runs" / "logs" / log_files[0]).read()
