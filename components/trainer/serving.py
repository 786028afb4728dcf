"""The serving contract every nanguard model exports, and the input pipeline that feeds training.

Contract: the SavedModel's `serving_default` signature takes a 1-D string tensor `examples` of
serialized tf.Example holding *raw* features keyed by the original column names (any header:
spaces, units, non-ASCII; only Keras layer names are derived, `names.tf_name`), applies the
tf.Transform graph inside (so a request gets exactly the repairs that training data got) and
returns `{"outputs": predictions}`, in the label's own units: a regression label the transform
standardised is trained on as (y - mean) / std, and the exported model ends in a layer that
applies y = output * std + mean (`export.py`). Next to the predictions, per example:
`nanguard_repaired` (int64: how many input values the transform graph repaired, that is missing,
NaN, +/-Inf, or outside the range it clips to) and `nanguard_finite` (bool: every prediction value
is finite). gRPC clients and REST clients of the columnar format read `outputs` as before.
With `trainer.nonfinite_input: reject`, `serving_default` refuses a request holding NaN or
+/-Inf with INVALID_ARGUMENT naming the feature, and `serving_repair` answers it repaired.
A `transform_features` signature returns the transformed features (TFMA uses it), the label
back in its own units (`label * std + mean`, NaN for a missing label), so the Evaluator
compares predictions and labels in the units of the table.

NaN and Inf: nothing here repairs them; whatever the transform graph does to a NaN or Inf in a
request is what the model sees, and `nanguard_repaired` counts it. The finite-prediction gate
checks the result.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from nanguard.components.names import tf_name, tf_names
from nanguard.components.served_flags import (
    FINITE_KEY,
    REPAIR_SIGNATURE,
    REPAIRED_KEY,
    finite_rows,
    reject_nonfinite,
    repair_flags,
)

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
EXAMPLES_INPUT = "examples"
OUTPUT_KEY = "outputs"


def input_fn(
    file_pattern: list[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    label_key: str,
    batch_size: int,
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = 0,
) -> tf.data.Dataset:
    """Reads transformed examples as `(features, label)` batches for Keras."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=label_key,
            num_epochs=num_epochs,
            shuffle=shuffle,
            shuffle_seed=seed,
        ),
        tf_transform_output.transformed_metadata.schema,
    )


def label_scaling(transform_output_dir: str, label_key: str) -> tuple[float, float] | None:
    """`(mean, std)` the transform standardised a regression label with, from its record
    (`components/transform_record.py`); None for a class label or a graph without a label record."""
    from nanguard.components.transform_record import read_label_record

    label = read_label_record(transform_output_dir)
    if not label or label.get("feature") != label_key or "std" not in label:
        return None
    return float(label["mean"]), float(label["std"])


def serving_signatures(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    label_key: str,
    scaling: tuple[float, float] | None = None,
    ranges: dict[str, tuple[float, float] | None] | None = None,
    nonfinite_input: str = "repair",
) -> dict:
    """Builds the `serving_default` and `transform_features` signatures for `model.save`.

    The transform layer is attached to the model so that its assets (vocabularies) are saved.
    The label is removed from the raw feature spec: requests do not carry it. With `scaling`
    (`label_scaling`), `transform_features` returns the label as `label * std + mean`: in its
    own units, as `model` predicts it (NaN stays NaN). `ranges`
    (`transform_record.repair_ranges`): what `nanguard_repaired` counts as clipped; None counts
    missing, NaN and Inf only.
    `nonfinite_input`: `repair` (the transform graph repairs a NaN or Inf in a request) or
    `reject`: `serving_default` fails such a request with INVALID_ARGUMENT naming the feature
    (`served_flags.reject_nonfinite`), and a `serving_repair` signature, the repairing one,
    is exported too (the Evaluator and the gate read evaluation rows, NaN and all, through it).
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    request_spec = {k: v for k, v in raw_spec.items() if k != label_key}

    # autograph=False: nothing here branches on a tensor, so AutoGraph's rewrite of the Keras
    # model's and the transform layer's code would buy nothing (it saved ~1 s of the export;
    # `save_traces=False` in export.py saved the other ~9 s).
    def serve(examples, reject: bool):
        features = tf.io.parse_example(examples, request_spec)
        checks = reject_nonfinite(features, tf.shape(examples)[0]) if reject else []
        with tf.control_dependencies(checks):  # a rejected request never reaches the model
            transformed = model.tft_layer(features)
        transformed.pop(label_key, None)
        predictions = model(transformed)
        return {
            OUTPUT_KEY: predictions,
            REPAIRED_KEY: repair_flags(features, ranges or {}, tf.shape(examples)[0]),
            FINITE_KEY: finite_rows(predictions),
        }

    examples_spec = [tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)]

    def serving_signature(reject: bool):
        return tf.function(
            lambda examples: serve(examples, reject), input_signature=examples_spec, autograph=False
        ).get_concrete_function()

    @tf.function(input_signature=examples_spec, autograph=False)
    def transform_features_fn(examples):
        features = tf.io.parse_example(examples, raw_spec)
        transformed = model.tft_layer(features)
        if scaling is not None and label_key in transformed:
            mean, std = scaling
            label = tf.cast(transformed[label_key], tf.float64) * std + mean
            transformed[label_key] = tf.cast(label, tf.float32)
        return transformed

    reject = nonfinite_input == "reject"
    signatures = {
        SERVING_SIGNATURE: serving_signature(reject),
        TRANSFORM_SIGNATURE: transform_features_fn.get_concrete_function(),
    }
    if reject:
        signatures[REPAIR_SIGNATURE] = serving_signature(False)
    return signatures


def feature_inputs(
    tf_transform_output: tft.TFTransformOutput, label_key: str
) -> tuple[dict, list, list]:
    """Keras inputs for every transformed feature but the label.

    Returns `(inputs, numeric_names, categorical)` where `categorical` is a list of
    `(name, num_buckets)`: an int64 output is a vocabulary index with
    `vocabulary_size(name) + 1` buckets (one OOV bucket); float outputs are
    numeric. `inputs` is keyed by the transformed feature names (the original column names);
    each Keras input layer is named `tf_name(name)`, which Keras accepts whatever the column.
    """
    spec = tf_transform_output.transformed_feature_spec()
    inputs, numeric, categorical = {}, [], []
    safe = tf_names(spec)  # checked one-to-one
    for name in sorted(spec):
        if name == label_key:
            continue
        dtype = spec[name].dtype
        inputs[name] = keras.layers.Input(shape=(), name=safe[name], dtype=dtype)
        if dtype == tf.int64:
            categorical.append((name, vocabulary_size(tf_transform_output, name) + 1))
        else:
            numeric.append(name)
    return inputs, numeric, categorical


def num_classes(tf_transform_output: tft.TFTransformOutput, label_key: str) -> int | None:
    """Number of classes for a string label (`vocabulary_size`), None for a numeric label."""
    spec = tf_transform_output.transformed_feature_spec()
    if spec[label_key].dtype == tf.int64:
        return vocabulary_size(tf_transform_output, label_key)
    return None


def vocabulary_size(tf_transform_output: tft.TFTransformOutput, feature: str) -> int:
    """Entries in the vocabulary of `feature`: the file `tf_name(feature)` (as nanguard's
    preprocessing_fn names it), else the file `feature` (a preprocessing_fn that names its files
    after the columns, e.g. the stock one).

    Raises:
        ValueError: neither file exists (names both).
    """
    safe = tf_name(feature)
    for filename in dict.fromkeys([safe, feature]):
        try:
            return tf_transform_output.vocabulary_size_by_name(filename)
        except ValueError:  # tft: "Could not compute vocabulary size for ..., does not exist"
            continue
    raise ValueError(
        f"The transform output has no vocabulary for feature {feature!r} (looked for the files "
        f"{safe!r} and {feature!r}); name it with vocab_filename=tf_name(feature)."
    )
