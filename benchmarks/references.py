"""scikit-learn references on a run's own split: what a standard model reaches there.

A run's Evaluator measures its model on the eval split CsvExampleGen made (a hash split, 2:1),
over labelled rows. Cross-validated references measure something else (other rows, more
training rows): on baseball, ridge reaches an MSE ratio of 0.56 over 5 folds but 0.89 on the
run's eval split. These references read the examples the run itself split (train and eval),
fit on the labelled train rows and score the labelled eval rows with the run's baselines (the
train mean; the train majority class), so the numbers sit beside the run's own.

Numeric columns: mean imputation (NaN and +/-Inf read as missing too) and standard scaling;
string columns: most-frequent imputation and one-hot. Models: ridge (RidgeCV) or logistic
regression, and histogram gradient boosting.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd


def split_frames(root: str) -> dict[str, pd.DataFrame]:
    """{split: the run's CsvExampleGen examples as a DataFrame}, from the newest examples
    artifact under `root` (one value or none per feature, as CSV rows give them)."""
    import pyarrow as pa
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    artifacts = sorted(
        glob.glob(os.path.join(root, "**", "CsvExampleGen", "examples", "*"), recursive=True),
        key=os.path.getmtime,
    )
    if not artifacts:
        raise FileNotFoundError(f"{root}: no CsvExampleGen examples (did the run stage data?)")
    frames = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(artifacts[-1], f"Split-{split}", "*")))
        records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
        columns = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_null(column.type):  # no value in any row (fertility's `2012`)
                columns[name] = pd.Series(np.nan, index=range(batch.num_rows))
                continue
            # A gap is an empty or a null list: each value goes to its row, gaps stay NaN/None.
            values = pa.compute.list_flatten(column)
            if pa.types.is_binary(values.type):
                values = values.cast(pa.string())
            rows = pa.compute.list_parent_indices(column).to_numpy()
            columns[name] = pd.Series(values.to_pandas().values, index=rows).reindex(
                range(batch.num_rows)
            )
        frames[split] = pd.DataFrame(columns)
    return frames


def _preprocessor(frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = [c for c in frame if frame[c].dtype == object]
    numeric = [c for c in frame if c not in text]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (
                "str",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                text,
            ),
        ]
    )


def reference(root: str, label: str, task: str, exclude: tuple = ()) -> dict[str, float]:
    """Each reference model's metric on the run's labelled eval rows, without the columns in
    `exclude` (the run's `transform.exclude`).

    Regression: `{model: MSE / the train-mean predictor's MSE}`; classification: `{model:
    accuracy}` and `majority` (the train majority class's accuracy on the same rows).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline

    frames = split_frames(root)
    train, test = (f[f[label].notna()] for f in (frames["train"], frames["eval"]))
    x_train, x_test = (f.drop(columns=[label, *exclude]) for f in (train, test))
    for x in (x_train, x_test):
        numeric = x.select_dtypes("number").columns
        x[numeric] = x[numeric].replace([np.inf, -np.inf], np.nan)
    y_train, y_test = train[label], test[label]
    out: dict[str, float] = {}
    if task == "regression":
        models = {
            "ridge": RidgeCV(alphas=np.logspace(-3, 3, 13)),
            "hgb": HistGradientBoostingRegressor(),
        }
        base = float(np.mean((y_test - y_train.mean()) ** 2))
        for name, model in models.items():
            fitted = make_pipeline(_preprocessor(x_train), model).fit(x_train, y_train)
            out[name] = float(np.mean((fitted.predict(x_test) - y_test) ** 2)) / base
    else:
        y_train, y_test = y_train.astype(str), y_test.astype(str)
        models = {
            "logistic": LogisticRegression(max_iter=2000),
            "hgb": HistGradientBoostingClassifier(),
        }
        out["majority"] = float(np.mean(y_test == y_train.mode()[0]))
        for name, model in models.items():
            fitted = make_pipeline(_preprocessor(x_train), model).fit(x_train, y_train)
            out[name] = float(np.mean(fitted.predict(x_test) == y_test))
    out["labelled_eval_rows"] = len(test)
    return out


def describe(found: dict[str, float], task: str) -> str:
    """One table cell: e.g. `ratio 0.66 (HGB), 0.89 (ridge)` or `accuracy 0.83 (HGB), 0.80
    (logistic), majority 0.51`."""
    names = {"hgb": "HGB", "ridge": "ridge", "logistic": "logistic"}
    models = sorted(
        (k for k in found if k in names), key=lambda k: found[k], reverse=task != "regression"
    )
    cells = [f"{found[k]:.2f} ({names[k]})" for k in models]
    if task == "regression":
        return "ratio " + ", ".join(cells)
    return "accuracy " + ", ".join(cells) + f", majority {found['majority']:.2f}"
