"""End-to-end runs of `nanguard run` on LocalDagRunner (slow: marked e2e)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

from nanguard.pipelines import data
from tests.conftest import GUARDED_COMPONENTS

pytestmark = pytest.mark.e2e

NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "penguins.pbtxt")


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


def _features(values: dict) -> dict:
    def feature(v):
        if isinstance(v[0], bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))
        if isinstance(v[0], int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=v))
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    return {name: feature(v) for name, v in values.items()}


def run_nanguard(tmp_path, *flags, root="runs", env=None):
    result = subprocess.run(
        [*NANGUARD, "run", "--root", str(tmp_path / root), "--train-steps", "60", *flags],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    print(result.stdout, result.stderr)
    return result


def pushed_models(serving_dir) -> list[str]:
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


def predict(model_dir, csv_path) -> np.ndarray:
    model = tf.saved_model.load(str(model_dir))
    assert set(model.signatures) >= {"serving_default", "transform_features"}
    examples = tf.constant(serialized_examples(csv_path, "species"))
    return model.signatures["serving_default"](examples=examples)["outputs"].numpy()


def penguins_with(tmp_path, name, column, token, every) -> str:
    """The bundled penguins with `token` written into `column` of every `every`-th row."""
    frame = pd.read_csv(data.bundled_penguins_csv(), keep_default_na=False, dtype=str)
    frame.loc[frame.index % every == 0, column] = token
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def guarded_run(tmp_path_factory):
    """One guarded run on the bundled data, its Beam steps in 2 worker processes."""
    tmp_path = tmp_path_factory.mktemp("guarded")
    (tmp_path / "tmp").mkdir()  # the run's TMPDIR: what it leaves there is checked
    result = run_nanguard(
        tmp_path,
        "--beam-arg=--direct_running_mode=multi_processing",
        "--beam-arg=--direct_num_workers=2",
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    return tmp_path, result


def test_a_run_leaves_no_temporary_file(guarded_run):
    """AutoGraph's generated sources (~21 a run) and the Beam workers' files went to a scratch
    folder under the root, removed at the end; nothing is left in TMPDIR or the root's tmp."""
    tmp_path, result = guarded_run
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path / "tmp") == []
    assert "tmp" not in os.listdir(tmp_path / "runs")


def test_guarded_pipeline_pushes_a_finite_model(guarded_run, penguins_csv):
    tmp_path, result = guarded_run
    assert result.returncode == 0, result.stderr
    for component in GUARDED_COMPONENTS:
        assert f"{component:<22} finished in" in result.stdout, component
    assert "data guard   344 rows: 19 missing, 0 NaN, 0 +Inf, 0 -Inf, 0 huge; pass" in result.stdout
    assert (
        "gate         " in result.stdout
        and "0 non-finite, 0 probe(s) failed: blessed" in result.stdout
    )
    serving = tmp_path / "runs" / "serving"
    (version,) = pushed_models(serving)
    assert f"Pushed model: {serving / version}" in result.stdout
    outputs = predict(serving / version, penguins_csv)
    assert outputs.shape == (344, 3)
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-4)
    # The transform graph inside the SavedModel repairs a hostile request as it repaired training.
    hostile = [
        {"bill_length_mm": [float("nan")], "bill_depth_mm": [float("inf")]},
        {"bill_length_mm": [float("-inf")], "island": [b"Atlantis"], "year": [99999]},
        {"bill_depth_mm": [3.0e38], "flipper_length_mm": [10**12]},
        {},  # every feature missing
    ]
    requests = [tf.train.Example(features=tf.train.Features(feature=_features(r))) for r in hostile]
    model = tf.saved_model.load(str(serving / version))
    outputs = model.signatures["serving_default"](
        examples=tf.constant([r.SerializeToString() for r in requests])
    )["outputs"].numpy()
    assert outputs.shape == (4, 3) and np.isfinite(outputs).all()
    (log_file,) = os.listdir(tmp_path / "runs" / "logs")
    assert "FinitePredictionGate" in (tmp_path / "runs" / "logs" / log_file).read_text()


def test_gate_blocks_a_nan_model_and_keeps_the_pushed_one(guarded_run, penguins_csv):
    """Second run into the same root: NaN in the data, stock (NaN-passing) preprocessing."""
    tmp_path, first = guarded_run
    assert first.returncode == 0
    serving = tmp_path / "runs" / "serving"
    (version,) = pushed_models(serving)
    before = {p: os.path.getmtime(p) for p in serving.rglob("*")}
    config = tmp_path / "stock_transform.yaml"
    # Drift off: with it, the data guard would stop this run first (NaN 0% -> 10% against the
    # pushed run); this test is about the gate.
    config.write_text(
        "transform:\n  preprocessing_fn: nanguard.pipelines.stock.preprocessing_fn\n"
        "data_guard:\n  skew: {check: false}\n"
    )
    nan_data = penguins_with(tmp_path, "nan.csv", "bill_length_mm", "nan", every=10)
    result = run_nanguard(tmp_path, "--data", nan_data, "--schema", SCHEMA, "--config", str(config))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "NOT blessed" in result.stdout and "nothing was pushed" in result.stdout.lower()
    assert "Pusher                 finished in" in result.stdout
    assert pushed_models(serving) == [version]
    assert {p: os.path.getmtime(p) for p in serving.rglob("*")} == before
    assert np.isfinite(predict(serving / version, penguins_csv)).all()


def test_data_guard_stops_the_run_on_inf(tmp_path):
    inf_data = penguins_with(tmp_path, "inf.csv", "bill_depth_mm", "inf", every=50)
    result = run_nanguard(tmp_path, "--data", inf_data)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.count("\nBLOCKED by DataGuard: ") == 1, result.stdout
    assert "bill_depth_mm" in result.stdout
    # No --schema with --data: SchemaGen infers one and HardenSchema makes it catch NaN/Inf.
    assert "HardenSchema           finished in" in result.stdout
    assert "Transform              started" not in result.stdout
    assert pushed_models(tmp_path / "runs" / "serving") == []
