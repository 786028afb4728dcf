"""The stock baseline: what the TFX penguin example does, with no NaN handling.

`nanguard run --baseline` runs this variant; every nanguard benchmark compares against it. Absent
values are filled with 0 (the example's `_fill_in_missing`), a NaN or Inf that is *present*
passes through `tft.scale_to_z_score` into the model unchanged.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from nanguard.components.names import tf_name
from nanguard.components.trainer import serving

LABEL_KEY = "species"


def _fill_in_missing(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """The TFX examples' filler: absent -> 0 or ''; a present NaN stays NaN."""
    if not isinstance(x, tf.sparse.SparseTensor):
        return x
    default = "" if x.dtype == tf.string else 0
    dense = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.squeeze(dense, axis=1)


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """Stock preprocessing: z-score numeric features, vocabularies for strings and the label
    (a float32 label under `task: regression`)."""
    label_key = (custom_config or {}).get("label_key", LABEL_KEY)
    regression = (custom_config or {}).get("task") == "regression"
    outputs = {}
    for name, tensor in inputs.items():
        x = _fill_in_missing(tensor)
        # Vocabulary files are named like nanguard's (a column name may not be a valid TF name).
        if name == label_key and regression:
            outputs[name] = tf.cast(x, tf.float32)
        elif name == label_key:
            outputs[name] = tft.compute_and_apply_vocabulary(
                tf.strings.as_string(x) if x.dtype != tf.string else x,
                vocab_filename=tf_name(name),
            )
        elif x.dtype == tf.string:
            outputs[name] = tft.compute_and_apply_vocabulary(
                x, vocab_filename=tf_name(name), num_oov_buckets=1
            )
        else:
            outputs[name] = tft.scale_to_z_score(tf.cast(x, tf.float32))
    return outputs


def build_model(tf_transform_output: tft.TFTransformOutput, label_key: str) -> keras.Model:
    """The penguin example's model: two dense layers on the concatenated features."""
    inputs, numeric, categorical = serving.feature_inputs(tf_transform_output, label_key)
    parts = [keras.layers.Reshape((1,))(inputs[name]) for name in numeric]
    parts += [
        keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(
            keras.layers.Reshape((1,))(inputs[name])
        )
        for name, size in categorical
    ]
    x = keras.layers.concatenate(parts) if len(parts) > 1 else parts[0]
    for units in (8, 8):
        x = keras.layers.Dense(units, activation="relu")(x)
    n_classes = serving.num_classes(tf_transform_output, label_key)
    if n_classes:
        outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
        loss = "sparse_categorical_crossentropy"
        metrics = [keras.metrics.SparseCategoricalAccuracy()]
    else:
        outputs = keras.layers.Dense(1)(x)
        loss, metrics = "mse", []
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, metrics=metrics)
    return model


def run_fn(fn_args) -> None:
    """Stock Trainer entry point: train, then export the serving contract (no guard)."""
    config = fn_args.custom_config or {}
    label_key = config.get("label_key", LABEL_KEY)
    batch_size = int(config.get("batch_size", 32))
    # Seeded (the example is not) so that a run, and which probes its model fails, is reproducible.
    keras.utils.set_random_seed(int(config.get("seed", 0)))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    # No step budget (TrainArgs without num_steps): whole passes, as many as the section's epochs.
    whole = None if fn_args.train_steps else 1
    epochs = 1 if fn_args.train_steps else int(config.get("epochs", 1))
    train = serving.input_fn(
        fn_args.train_files,
        fn_args.data_accessor,
        tf_transform_output,
        label_key,
        batch_size,
        num_epochs=whole,
    )
    evaluation = serving.input_fn(
        fn_args.eval_files,
        fn_args.data_accessor,
        tf_transform_output,
        label_key,
        batch_size,
        num_epochs=None if fn_args.eval_steps else 1,
    )
    model = build_model(tf_transform_output, label_key)
    model.fit(
        train,
        epochs=epochs,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        callbacks=[keras.callbacks.TerminateOnNaN()],
        verbose=2,
    )
    signatures = serving.serving_signatures(model, tf_transform_output, label_key)
    model.save(fn_args.serving_model_dir, save_format="tf", signatures=signatures)
    logging.info("Stock model written to %s", fn_args.serving_model_dir)
