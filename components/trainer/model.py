"""Model building: the Keras network the guarded trainer trains, from the trainer section.

Dense inputs (float numeric features and `_missing` indicators; int64 vocabulary indices as
one-hot or embedding), hidden Dense layers with He normal (ReLU family) or Glorot uniform
(tanh/sigmoid family) initialisers, L2 on every kernel, dropout after every hidden layer, a
softmax (classifier) or linear (regressor) float32 output, with `trainer.linear` also fed by one
linear layer on the inputs (wide & deep), compiled as a `GuardedModel` with the configured
optimizer and global gradient-norm clipping.

NaN and Inf in inputs are not repaired here (the transform does that); a step they make
non-finite is refused by the guarded model's train step.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError
from nanguard.components.names import tf_names
from nanguard.components.trainer import serving
from nanguard.components.trainer.config import HE_ACTIVATIONS, TrainerConfig
from nanguard.components.trainer.guarded_model import GuardedModel
from nanguard.components.violations import Violation

# The Keras class of each optimizer name in config.OPTIMIZERS (a test keeps the two equal).
KERAS_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
}


def _initializer(config: TrainerConfig, activation: str, index: int):
    """The kernel initializer of Dense layer `index`: the configured one, else He or Glorot."""
    seed = config.seed + index
    if config.kernel_initializer:
        init = keras.initializers.get(config.kernel_initializer)
        if hasattr(init, "seed"):
            init.seed = seed
        return init
    if activation in HE_ACTIVATIONS:
        return keras.initializers.HeNormal(seed=seed)
    return keras.initializers.GlorotUniform(seed=seed)  # tanh/sigmoid family, softmax, linear


@contextlib.contextmanager
def _precision(mixed: bool):
    """Sets the global dtype policy to mixed_float16 for the block, then puts it back."""
    if not mixed:
        yield
        return
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_model(
    numeric: list[str],
    categorical: list[tuple[str, int]],
    n_classes: int | None,
    config: TrainerConfig,
    inputs: dict | None = None,
) -> GuardedModel:
    """Builds and compiles the guarded model on dense transformed features.

    Args:
        numeric: float32 features (scaled values and `_missing` indicators), shape [batch].
        categorical: `(name, num_buckets)` int64 vocabulary-index features, shape [batch].
        n_classes: classes of an int64 label; None for a float32 regression label.
        config: the trainer configuration.
        inputs: Keras inputs by name (as `serving.feature_inputs` returns); built if None.

    Feature names may be any column header: the model's inputs are keyed by them, while its
    Keras layer names use `names.tf_name(name)` (e.g. `<tf_name>_col`, `<tf_name>_one_hot`).

    Returns:
        A compiled `GuardedModel`: classifier -> softmax [batch, n_classes] with sparse
        categorical cross-entropy; regressor -> linear [batch, 1] with MSE.

    NaN and Inf in inputs are not repaired here (the transform does that); a step they make
    non-finite is refused by the guard.
    """
    with _precision(config.mixed_precision):
        safe = tf_names([*numeric, *(name for name, _ in categorical)])
        if inputs is None:
            inputs = {name: keras.layers.Input(shape=(), name=safe[name]) for name in numeric}
            for name, _ in categorical:
                inputs[name] = keras.layers.Input(shape=(), name=safe[name], dtype=tf.int64)
        parts = []
        if numeric:
            parts.append(
                keras.layers.concatenate(
                    [keras.layers.Reshape((1,), name=f"{safe[n]}_col")(inputs[n]) for n in numeric],
                    name="numeric",
                )
                if len(numeric) > 1
                else keras.layers.Reshape((1,), name=f"{safe[numeric[0]]}_col")(inputs[numeric[0]])
            )
        for name, buckets in categorical:
            column = keras.layers.Reshape((1,), name=f"{safe[name]}_col")(inputs[name])
            if config.categorical_encoding == "embedding":
                emb = keras.layers.Embedding(
                    buckets, config.embedding_dim, name=f"{safe[name]}_embedding"
                )(column)
                parts.append(keras.layers.Flatten(name=f"{safe[name]}_flat")(emb))
            else:
                parts.append(
                    keras.layers.CategoryEncoding(
                        num_tokens=buckets, output_mode="one_hot", name=f"{safe[name]}_one_hot"
                    )(column)
                )
        if not parts:
            raise ValueError("The transformed data has no feature besides the label.")
        x = keras.layers.concatenate(parts, name="features") if len(parts) > 1 else parts[0]
        features = x
        regularizer = None
        if config.l1:  # elastic net when both are set
            regularizer = keras.regularizers.L1L2(l1=config.l1, l2=config.l2)
        elif config.l2:
            regularizer = keras.regularizers.L2(config.l2)
        for index, units in enumerate(config.hidden_units):
            x = keras.layers.Dense(
                units,
                activation=config.activation,
                kernel_initializer=_initializer(config, config.activation, index),
                kernel_regularizer=regularizer,
                name=f"dense_{index}",
            )(x)
            if config.dropout:
                x = keras.layers.Dropout(
                    config.dropout, seed=config.seed + index, name=f"dropout_{index}"
                )(x)
        out_index = len(config.hidden_units)
        out_activation = "softmax" if n_classes else "linear"
        if config.linear:
            # Wide & deep: the features also reach the output through one linear layer, so the
            # model holds logistic (or linear) regression and the network adds to it. Off by
            # default: on real tables it won and lost about equally (README, trainer's Model).
            deep = keras.layers.Dense(
                n_classes or 1,
                kernel_initializer=_initializer(config, "linear", out_index),
                kernel_regularizer=regularizer,
                name="deep",
            )(x)
            wide = keras.layers.Dense(
                n_classes or 1,
                kernel_initializer=_initializer(config, "linear", out_index + 1),
                kernel_regularizer=regularizer,
                name="linear",
            )(features)
            scores = keras.layers.Add(name="scores")([deep, wide])
            outputs = keras.layers.Activation(out_activation, dtype="float32", name="output")(
                scores
            )
        else:
            outputs = keras.layers.Dense(
                n_classes or 1,
                activation=out_activation,
                kernel_initializer=_initializer(config, out_activation, out_index),
                kernel_regularizer=regularizer,
                dtype="float32",
                name="output",
            )(x)
        model = GuardedModel(inputs=inputs, outputs=outputs)
    optimizer = KERAS_OPTIMIZERS[config.optimizer](
        learning_rate=config.learning_rate, global_clipnorm=config.global_clipnorm
    )
    if config.mixed_precision:
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    if n_classes:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.MeanSquaredError()
        metrics = [keras.metrics.MeanAbsoluteError(name="mae")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def build_model_from_transform(
    tf_transform_output: tft.TFTransformOutput, label_key: str, config: TrainerConfig
) -> GuardedModel:
    """`build_model` on the features of a tf.Transform output, all but `label_key`.

    An int64 label is a class index (classifier, one class per vocabulary entry); a float
    label makes a regressor. NaN and Inf: as `build_model`.
    """
    inputs, numeric, categorical = serving.feature_inputs(tf_transform_output, label_key)
    n_classes = serving.num_classes(tf_transform_output, label_key)
    if n_classes is not None and n_classes < 2:
        raise _one_class(label_key, n_classes)
    return build_model(numeric, categorical, n_classes, config, inputs=inputs)


def _one_class(label_key: str, n_classes: int) -> GuardBlockedError:
    """The block for a training split whose labels hold fewer than two classes (the table has
    others, or `nanguard run` would have refused it: CsvExampleGen's hash split sent every row
    of them to eval). Softmax over one class fails inside Keras' loss."""
    violation = Violation(
        guard="Trainer",
        kind="label",
        reason="data",
        message=(
            f"label {label_key!r} holds {n_classes} class(es) in the training split: a "
            "classifier needs two"
        ),
        feature=label_key,
        split="train",
        observed=n_classes,
        limit=2,
        advice=(
            "the hash split sent every row of the other classes to eval; add rows of the "
            "rarer classes, or pass another --label"
        ),
    )
    return GuardBlockedError(violation.line(), [violation])
