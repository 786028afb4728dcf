"""`nanguard run` on a CSV with a spreadsheet's header (issue #10 item 3; slow: marked e2e).

The bundled penguins with their header rewritten as people write it: spaces, units in
parentheses, a slash and a dash, a leading digit, non-ASCII letters, a long name. The run must
push, and the pushed `serving_default` must take raw rows keyed by those original names.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from nanguard.pipelines import data
from tests.pipelines.test_e2e import pushed_models, run_nanguard

pytestmark = pytest.mark.e2e

LONG = "Year of the observation (field season; Palmer Station LTER) " + "y" * 140  # 200 chars
# No comma in a header: CsvExampleGen splits the header line on commas, quotes or not.

HEADER = {
    "species": "Species",
    "island": "3rd-island/site",
    "bill_length_mm": "Bill Length (mm)",
    "bill_depth_mm": "Bill Depth (mm)",
    "flipper_length_mm": "Flipper Länge",
    "body_mass_g": "体重 (g)",
    "sex": "Sexe.é/ü",
    "year": LONG,
}
LABEL = HEADER["species"]


def _feature(value) -> tf.train.Feature:
    if isinstance(value, str):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    if isinstance(value, int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def raw_requests(frame: pd.DataFrame) -> list[bytes]:
    """One tf.Example per row keyed by the original header, gaps left out. A numeric column
    whose values are all whole numbers is INT (as the inferred schema types it), else FLOAT."""
    features = frame.drop(columns=[LABEL])
    ints = {
        name
        for name in features
        if features[name].dtype.kind in "if" and np.all(np.mod(features[name].dropna(), 1) == 0)
    }
    out = []
    for record in features.to_dict("records"):
        feature = {}
        for name, value in record.items():
            if pd.isna(value):
                continue
            value = int(value) if name in ints else value
            feature[name] = _feature(float(value) if isinstance(value, np.floating) else value)
        out.append(tf.train.Example(features=tf.train.Features(feature=feature)))
    return [e.SerializeToString() for e in out]


def test_spreadsheet_header_runs_end_to_end_and_serves_by_original_names(tmp_path):
    # Only the header changes: the cells are written back as read (`3750` stays `3750`).
    text = pd.read_csv(data.bundled_penguins_csv(), dtype=str, keep_default_na=False)
    csv = tmp_path / "penguins spreadsheet.csv"
    text.rename(columns=HEADER).to_csv(csv, index=False)
    frame = pd.read_csv(csv)
    assert list(frame.columns) == list(HEADER.values())
    result = run_nanguard(tmp_path, "--data", str(csv), "--label", LABEL)
    assert result.returncode == 0, result.stdout + result.stderr
    serving = tmp_path / "runs" / "serving"
    (version,) = pushed_models(serving)
    assert f"Pushed model: {serving / version}" in result.stdout
    assert "0 non-finite, 0 probe(s) failed: blessed" in result.stdout

    model = tf.saved_model.load(str(serving / version))
    requests = raw_requests(frame)
    assert sum(1 for r in requests if len(tf.train.Example.FromString(r).features.feature) < 7)
    outputs = model.signatures["serving_default"](examples=tf.constant(requests))["outputs"]
    outputs = outputs.numpy()
    assert outputs.shape == (len(frame), frame[LABEL].nunique())
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-4)
    # The model uses the features: rows of different species get different predictions.
    assert len({tuple(np.round(o, 4)) for o in outputs}) > 3
    hostile = [
        {"Bill Length (mm)": float("nan"), "Bill Depth (mm)": float("inf")},
        {"体重 (g)": 10**12, "3rd-island/site": "Atlantis", LONG: 99999},
        {},
    ]
    examples = [
        tf.train.Example(
            features=tf.train.Features(feature={k: _feature(v) for k, v in r.items()})
        ).SerializeToString()
        for r in hostile
    ]
    outputs = model.signatures["serving_default"](examples=tf.constant(examples))["outputs"]
    assert outputs.shape == (3, 3) and np.isfinite(outputs.numpy()).all()

    # The transform record names the features as the user wrote them.
    (record_path,) = glob.glob(
        str(tmp_path / "runs" / "**" / "nanguard_transform_record.json"), recursive=True
    )
    with open(record_path, encoding="utf-8") as f:
        record = json.load(f)
    assert set(record["features"]) == set(HEADER.values()) - {LABEL}
    assert os.path.isdir(serving / version)
