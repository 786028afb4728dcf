"""Export: a model holding a NaN/Inf weight is refused and nothing is written; a model on
spreadsheet headers exports and serves tf.Examples keyed by those headers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import diagnosis, export
from nanguard.components.trainer import model as model_lib
from nanguard.components.trainer.config import TrainerConfig
from tests.trainer import _serving_model, _shared
from tests.trainer._shared import LABEL


def test_export_refuses_nan_weight(tmp_path):
    tft_out = _shared.transform_output(_shared.transformed())
    model = model_lib.build_model_from_transform(tft_out, LABEL, TrainerConfig())
    kernel = model.get_layer("dense_1").kernel
    value = kernel.numpy()
    value[0, :3] = np.nan
    value[1, 0] = np.inf
    kernel.assign(value)
    bad = diagnosis.nonfinite_weights(model)
    assert bad == [
        {
            "layer": "dense_1",
            "variable": kernel.name,
            "nan": int(np.isnan(value).sum()),
            "inf": int(np.isinf(value).sum()),
        }
    ]
    target = tmp_path / "serving"
    with pytest.raises(GuardBlockedError, match="dense_1"):
        export.export_model(model, tft_out, LABEL, str(target))
    assert not target.exists()


# ---- spreadsheet headers (issue #10) ------------------------------------------------------

HEADER_NUMERIC = ["Bill Length (mm)", "a b", "a_b", "A B", "a.b", "中文", "Länge " + "x" * 194]
HEADER_STRING = ["3rd-island/site", "Sexe (é)"]
HEADER_LABEL = "Species (类)"


def _header_row(i, rng, label=True) -> dict:
    """One raw row as tf.Transform's instance dicts hold it: name -> list of values."""
    row = {}
    for j, name in enumerate(HEADER_NUMERIC):
        row[name] = [float(rng.normal(j + (i % 2), 1.0))] if (i + j) % 5 else []  # gaps
    for j, name in enumerate(HEADER_STRING):
        row[name] = [[b"p", b"q", b"r"][(i + j) % 3]] if (i + j) % 4 else []
    if label:
        row[HEADER_LABEL] = [[b"Adelie", b"Gentoo"][i % 2]]
    return row


def test_spreadsheet_headers_build_train_export_and_serve(tmp_path):
    """nanguard's preprocessing_fn and trainer on headers with spaces, units, dots, slashes,
    non-ASCII letters, a leading digit, 200 characters and names differing by case or
    punctuation; serving_default takes tf.Examples keyed by those original names."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import metadata_io

    from nanguard.components.names import tf_name
    from nanguard.components.trainer import serving
    from nanguard.components.transform import preprocessing

    spec = {n: tf.io.VarLenFeature(tf.float32) for n in HEADER_NUMERIC}
    spec.update({n: tf.io.VarLenFeature(tf.string) for n in [*HEADER_STRING, HEADER_LABEL]})
    rng = np.random.default_rng(3)
    rows = [_header_row(i, rng) for i in range(64)]
    examples = [_serving_model.example(r) for r in rows]
    meta = tft.DatasetMetadata.from_feature_spec(spec)
    config = {"label_key": HEADER_LABEL}
    graph = str(tmp_path / "transform")
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        parsed = p | beam.Create(rows)
        transform_fn = (parsed, meta) | tft_beam.AnalyzeDataset(
            lambda x: preprocessing.preprocessing_fn(x, config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(graph)
    metadata_io.write_metadata(meta, os.path.join(graph, tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_out = tft.TFTransformOutput(graph)

    model = model_lib.build_model_from_transform(tft_out, HEADER_LABEL, TrainerConfig())
    expected_inputs = {*HEADER_NUMERIC, *(f"{n}_missing" for n in HEADER_NUMERIC), *HEADER_STRING}
    assert set(model.input) == expected_inputs  # keyed by the original names
    assert sorted(model.input_names) == sorted(tf_name(n) for n in expected_inputs)
    assert model.output_shape == (None, 2)
    islands = tft_out.vocabulary_size_by_name(tf_name("3rd-island/site"))
    assert model.get_layer(f"{tf_name('3rd-island/site')}_one_hot").num_tokens == islands + 1
    transformed = tft_out.transform_features_layer()(
        tf.io.parse_example(tf.constant(examples), spec)
    )
    y = transformed.pop(HEADER_LABEL)
    model.fit(tf.data.Dataset.from_tensor_slices((transformed, y)).batch(16), epochs=2, verbose=0)

    target = str(tmp_path / "serving")
    export.export_model(model, tft_out, HEADER_LABEL, target)
    loaded = tf.saved_model.load(target)
    requests = [_serving_model.example(_header_row(i, rng, label=False)) for i in range(10)]
    requests.append(tf.train.Example().SerializeToString())  # every feature missing
    served = loaded.signatures[serving.SERVING_SIGNATURE](examples=tf.constant(requests))
    outputs = served[serving.OUTPUT_KEY].numpy()
    assert outputs.shape == (11, 2) and np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)
    request_spec = {k: v for k, v in spec.items() if k != HEADER_LABEL}
    direct = tft_out.transform_features_layer()(
        tf.io.parse_example(tf.constant(requests), request_spec)
    )
    np.testing.assert_allclose(outputs, model(direct).numpy(), rtol=1e-5, atol=1e-6)
    features = loaded.signatures[serving.TRANSFORM_SIGNATURE](examples=tf.constant(examples))
    assert set(features) == expected_inputs | {HEADER_LABEL}
    # Saved without layer traces: Keras rebuilds the model from its layers' configs.
    import tf_keras as keras

    rebuilt = keras.models.load_model(target)
    np.testing.assert_allclose(rebuilt(direct).numpy(), outputs, rtol=1e-5, atol=1e-6)
