"""Shared helpers of the data guard tests: independent references and artifact builders."""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from nanguard.components import cells
from nanguard.components.data_guard import executor as guard_executor

HERE = os.path.dirname(os.path.dirname(__file__))
CRAFTED = os.path.join(HERE, "data", "guard_crafted.csv")
PENGUINS = os.path.join(
    os.path.dirname(pd.__file__), "..", "palmerpenguins", "data", "penguins.csv"
)
MISSING_TOKENS = set(cells.MISSING_TOKENS)
MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
T = anomalies_pb2.AnomalyInfo.Type


def reference_counts(path: str) -> dict[str, dict]:
    """Independent reference: csv module + float() + numpy float32, per column."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    out = {}
    for name in rows[0]:
        cells = [r[name].strip() for r in rows]
        present = [c for c in cells if c not in MISSING_TOKENS]
        ref = {"rows": len(cells), "present": len(present), "missing": len(cells) - len(present)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow of 1e39 -> inf
                values = np.array([float(c) for c in present], dtype=np.float32)
        except ValueError:
            ref.update(kind="STRING", top=pd.Series(present).value_counts().index[0])
            out[name] = ref
            continue
        finite = values[np.isfinite(values)].astype(np.float64)
        ref.update(
            kind="FLOAT",
            nan=int(np.isnan(values).sum()),
            pos_inf=int(np.isposinf(values).sum()),
            neg_inf=int(np.isneginf(values).sum()),
            huge=int((np.abs(finite) > np.sqrt(np.finfo(np.float32).max)).sum()),
            finite=finite,
        )
        out[name] = ref
    return out


def assert_feature_matches(feat: dict, ref: dict) -> None:
    for key in ("rows", "present", "missing"):
        assert feat[key] == ref[key], (key, feat, ref)
    if ref.get("kind") == "STRING":
        assert feat["type"] == "STRING"
        assert feat["top_value"] == ref["top"]
        return
    if ref["present"] == 0:
        assert feat["num_values"] == 0 and feat["mean"] is None
        return
    for key in ("nan", "pos_inf", "neg_inf", "huge"):
        assert feat[key] == ref[key], (key, feat, ref)
    finite = ref["finite"]
    assert feat["finite"] == finite.size
    np.testing.assert_allclose(feat["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(feat["std"], finite.std(), rtol=1e-9)
    assert feat["min"] == finite.min() and feat["max"] == finite.max()
    # The median comes from a quantiles sketch; on this little data it is one of the middle values.
    s = np.sort(finite)
    assert s[(s.size - 1) // 2] <= feat["median"] <= s[s.size // 2]
    expected_skew = 3 * (finite.mean() - feat["median"]) / finite.std()
    np.testing.assert_allclose(feat["skewness"], expected_skew, rtol=1e-9)


def write_examples(path: str, rows: list[dict]) -> None:
    """Writes rows as gzip TFRecords of tf.Example; None or a missing key = absent feature."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            features = {}
            for name, value in row.items():
                if value is None:
                    continue
                if isinstance(value, str):
                    features[name] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[value.encode()])
                    )
                else:
                    features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
            )


def csv_rows(path: str) -> list[dict]:
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            row = {}
            for name, cell in r.items():
                cell = cell.strip()
                if cell in MISSING_TOKENS:
                    row[name] = None
                else:
                    try:
                        row[name] = float(cell)
                    except ValueError:
                        row[name] = cell
            rows.append(row)
    return rows


def artifacts(tmp_path, train_rows, eval_rows, schema_proto):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    write_examples(os.path.join(examples.uri, "Split-train", "data-00000.gz"), train_rows)
    write_examples(os.path.join(examples.uri, "Split-eval", "data-00000.gz"), eval_rows)
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(tmp_path / "schema")
    tf.io.gfile.makedirs(schema_artifact.uri)
    tfdv.write_schema_text(schema_proto, os.path.join(schema_artifact.uri, "schema.pbtxt"))
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    return {"examples": [examples], "schema": [schema_artifact]}, {"anomalies": [anomalies]}


def crafted_schema() -> schema_pb2.Schema:
    s = schema_pb2.Schema()
    for name in ("x", "y", "label", "z", "ghost"):
        s.feature.add(name=name, type=schema_pb2.FLOAT)
    s.feature.add(name="s", type=schema_pb2.BYTES)
    return s


def executor(tmp_path, beam_args=()):
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(beam_args), tmp_dir=str(tmp_path / "tmp")
    )
    return guard_executor.Executor(context)


def example(x: float | None, k: int | None, s: str | None) -> bytes:
    feature = {}
    if x is not None:
        feature["x"] = tf.train.Feature(float_list=tf.train.FloatList(value=[x]))
    if k is not None:
        feature["k"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[k]))
    if s is not None:
        feature["s"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path: str, records: list[bytes], gzip: bool) -> None:
    with tf.io.TFRecordWriter(path, options="GZIP" if gzip else None) as writer:
        for record in records:
            writer.write(record)
