"""End to end: a numeric label is a regression, trained, evaluated, gated and pushed (slow: e2e).

scikit-learn's bundled diabetes table (442 rows, ten float features, a float target with 214
distinct values), written to CSV with gaps in the features and in the label.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.datasets import load_diabetes

pytestmark = pytest.mark.e2e

NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
LABEL = "target"


def _diabetes_csv(path) -> pd.DataFrame:
    frame = load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(0)
    for column in ("bmi", "bp", "s5"):
        frame.loc[rng.choice(len(frame), 15, replace=False), column] = np.nan
    frame.loc[[3, 50, 200], LABEL] = np.nan  # unlabelled rows: dropped by trainer and metric
    frame.to_csv(path, index=False)
    return frame


def _examples(frame: pd.DataFrame) -> list[bytes]:
    """Raw serving requests: every feature of every row, gaps left out, no label."""
    records = []
    for row in frame.drop(columns=[LABEL]).to_dict("records"):
        feature = {
            name: tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
            for name, value in row.items()
            if not pd.isna(value)
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        records.append(example.SerializeToString())
    return records


def test_a_float_label_is_a_regression_that_pushes_with_mse_in_the_summary(tmp_path):
    frame = _diabetes_csv(tmp_path / "diabetes.csv")
    serving = tmp_path / "serving"
    config = tmp_path / "nanguard.yaml"
    # Unlabelled rows are left out by default (`unlabelled_rows: drop`, spelled out here): the
    # trainer drops them and the Evaluator's regression metric scores only labelled rows.
    config.write_text("data_guard: {unlabelled_rows: drop}\n")
    result = subprocess.run(
        [*NANGUARD, "run", "--data", str(tmp_path / "diabetes.csv"), "--label", LABEL]
        + ["--root", str(tmp_path / "runs"), "--serving-dir", str(serving)]
        + ["--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"regression of '{LABEL}'" in result.stdout
    assert "Pushed model:" in result.stdout
    (gate_line,) = [line for line in result.stdout.splitlines() if line.startswith("  gate ")]
    match = re.search(
        r"regression: MSE ([\d.e+]+), MAE ([\d.e+]+), MSE / mean predictor's ([\d.e+]+) "
        r"\(<= 0\.9\); (\d+) examples, 0 non-finite, 0 probe\(s\) failed: blessed",
        gate_line,
    )
    assert match, gate_line
    mse, mae, ratio = (float(match.group(i)) for i in (1, 2, 3))
    assert 0 < mae < mse and 0 < ratio <= 0.9  # max_mse_ratio, the default
    # The eval rows' label variance is about the full table's (5929): MSE / ratio recovers it.
    assert 3000 < mse / ratio < 9000
    (version,) = os.listdir(serving)
    model = tf.saved_model.load(str(serving / version))
    outputs = model.signatures["serving_default"](examples=tf.constant(_examples(frame)))
    predictions = outputs["outputs"].numpy()
    assert predictions.shape == (len(frame), 1)
    assert np.all(np.isfinite(predictions))
    # A regressor on the label's scale, not a class index: predictions spread around its mean.
    assert 80 < predictions.mean() < 230 and predictions.std() > 10
