"""Guarded Trainer entry point: `run_fn` for the stock TFX Trainer.

Use it as `Trainer(run_fn='nanguard.components.trainer.run_fn.run_fn', custom_config={...})`.
`custom_config` is the `trainer` section of the `nanguard run --config` YAML plus `label_key`;
every key is a field of `TrainerConfig`.

NaN and Inf: rows whose label is missing (int label -1, float label NaN or Inf) are dropped from
training and evaluation. A training step with a non-finite loss, global gradient norm or weight
never updates the model (see `guard.py`), and a model holding any non-finite weight is never
exported: `GuardBlockedError` is raised and nothing is written to `serving_model_dir`. The
training health report is written to `<model_run_dir>/nanguard_training_health.json` in every
case, including failures.
"""

from __future__ import annotations

import contextlib
import dataclasses

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import serving
from nanguard.components.trainer.guard import (
    HEALTH_REPORT_FILE,
    POLICIES,
    GuardCallback,
    GuardedModel,
    nonfinite_weights,
    write_health_report,
)

__all__ = [
    "HEALTH_REPORT_FILE",
    "TrainerConfig",
    "build_model",
    "build_model_from_transform",
    "drop_missing_labels",
    "export_model",
    "fit_guarded",
    "run_fn",
]

_HE_ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "silu", "leaky_relu", "relu6")
_GLOROT_ACTIVATIONS = ("tanh", "sigmoid", "softmax", "linear", "hard_sigmoid", "softsign")
_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
}
_ENCODINGS = ("one_hot", "embedding")


@dataclasses.dataclass
class TrainerConfig:
    """Everything the guarded trainer can be told (the YAML `trainer` section + `label_key`).

    Attributes:
        label_key: transformed label feature (int64 class index, or float32 for regression).
        hidden_units: widths of the hidden Dense layers.
        activation: hidden activation; ReLU-family gets He normal init, tanh/sigmoid Glorot.
        kernel_initializer: override of the automatic choice (a Keras initializer name).
        l2: L2 factor on every Dense kernel (0 disables).
        dropout: dropout rate after every hidden layer (0 disables).
        categorical_encoding: `one_hot` or `embedding` for int64 vocabulary features.
        embedding_dim: embedding width when `categorical_encoding='embedding'`.
        optimizer: `adam`, `sgd`, `rmsprop` or `adagrad`.
        learning_rate: initial learning rate.
        global_clipnorm: clip the global gradient norm to this (None disables).
        batch_size: training and evaluation batch size.
        epochs: epochs; `fn_args.train_steps` is split evenly over them.
        nonfinite_policy: `recover`, `stop` or `raise`.
        snapshot_every: steps between host checks and weight snapshots.
        lr_factor: learning-rate multiplier on each recovery.
        max_recoveries: recoveries before giving up as `stop`.
        mixed_precision: train with the `mixed_float16` policy and a LossScaleOptimizer.
        extreme_input_threshold: |transformed value| above which the diagnosis lists a feature.
        check_numerics: name the first op with `tf.debugging.enable_check_numerics` on an event.
        seed: seed for initializers, dropout and shuffling.
    """

    label_key: str = "species"
    hidden_units: tuple = (16, 8)
    activation: str = "relu"
    kernel_initializer: str | None = None
    l2: float = 1e-4
    dropout: float = 0.1
    categorical_encoding: str = "one_hot"
    embedding_dim: int = 4
    optimizer: str = "adam"
    learning_rate: float = 1e-2
    global_clipnorm: float | None = 1.0
    batch_size: int = 32
    epochs: int = 10
    nonfinite_policy: str = "recover"
    snapshot_every: int = 20
    lr_factor: float = 0.1
    max_recoveries: int = 5
    mixed_precision: bool = False
    extreme_input_threshold: float = 1e3
    check_numerics: bool = True
    seed: int = 0

    @classmethod
    def from_dict(cls, config: dict | None) -> TrainerConfig:
        """Validates a `custom_config` dict; unknown keys and bad values fail early.

        Raises:
            ValueError: naming the bad key or value and the allowed ones.
        """
        config = dict(config or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(
                f"Unknown trainer config key(s) {unknown}; allowed keys: {sorted(fields)}."
            )
        if "hidden_units" in config:
            config["hidden_units"] = tuple(int(u) for u in config["hidden_units"])
        result = cls(**config)
        result.validate()
        return result

    def validate(self) -> None:
        """Raises ValueError naming the first invalid field and the allowed values."""
        checks = [
            (self.nonfinite_policy in POLICIES, "nonfinite_policy", POLICIES),
            (self.optimizer in _OPTIMIZERS, "optimizer", tuple(_OPTIMIZERS)),
            (self.categorical_encoding in _ENCODINGS, "categorical_encoding", _ENCODINGS),
            (self.learning_rate > 0, "learning_rate", "> 0"),
            (0 <= self.dropout < 1, "dropout", "[0, 1)"),
            (self.l2 >= 0, "l2", ">= 0"),
            (self.global_clipnorm is None or self.global_clipnorm > 0, "global_clipnorm", "> 0"),
            (0 < self.lr_factor < 1, "lr_factor", "(0, 1)"),
            (self.max_recoveries >= 0, "max_recoveries", ">= 0"),
            (self.snapshot_every >= 1, "snapshot_every", ">= 1"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.epochs >= 1, "epochs", ">= 1"),
            (all(u > 0 for u in self.hidden_units), "hidden_units", "positive widths"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(
                    f"trainer.{name}={getattr(self, name)!r} is invalid; allowed: {allowed}."
                )


def _initializer(config: TrainerConfig, activation: str, index: int):
    seed = config.seed + index
    if config.kernel_initializer:
        init = keras.initializers.get(config.kernel_initializer)
        if hasattr(init, "seed"):
            init.seed = seed
        return init
    if activation in _GLOROT_ACTIVATIONS:
        return keras.initializers.GlorotUniform(seed=seed)
    if activation in _HE_ACTIVATIONS:
        return keras.initializers.HeNormal(seed=seed)
    raise ValueError(
        f"trainer.activation={activation!r} has no default initializer; set "
        f"trainer.kernel_initializer or use one of {_HE_ACTIVATIONS + _GLOROT_ACTIVATIONS}."
    )


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

    Returns:
        A compiled `GuardedModel`: classifier -> softmax [batch, n_classes] with sparse
        categorical cross-entropy; regressor -> linear [batch, 1] with MSE.

    NaN and Inf in inputs are not repaired here (the transform does that); a step they make
    non-finite is refused by the guard.
    """
    with _precision(config.mixed_precision):
        if inputs is None:
            inputs = {name: keras.layers.Input(shape=(), name=name) for name in numeric}
            for name, _ in categorical:
                inputs[name] = keras.layers.Input(shape=(), name=name, dtype=tf.int64)
        parts = []
        if numeric:
            parts.append(
                keras.layers.concatenate(
                    [keras.layers.Reshape((1,), name=f"{n}_col")(inputs[n]) for n in numeric],
                    name="numeric",
                )
                if len(numeric) > 1
                else keras.layers.Reshape((1,), name=f"{numeric[0]}_col")(inputs[numeric[0]])
            )
        for name, buckets in categorical:
            column = keras.layers.Reshape((1,), name=f"{name}_col")(inputs[name])
            if config.categorical_encoding == "embedding":
                emb = keras.layers.Embedding(
                    buckets, config.embedding_dim, name=f"{name}_embedding"
                )(column)
                parts.append(keras.layers.Flatten(name=f"{name}_flat")(emb))
            else:
                parts.append(
                    keras.layers.CategoryEncoding(
                        num_tokens=buckets, output_mode="one_hot", name=f"{name}_one_hot"
                    )(column)
                )
        if not parts:
            raise ValueError("The transformed data has no feature besides the label.")
        x = keras.layers.concatenate(parts, name="features") if len(parts) > 1 else parts[0]
        regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
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
        outputs = keras.layers.Dense(
            n_classes or 1,
            activation=out_activation,
            kernel_initializer=_initializer(config, out_activation, out_index),
            kernel_regularizer=regularizer,
            dtype="float32",
            name="output",
        )(x)
        model = GuardedModel(inputs=inputs, outputs=outputs)
    optimizer = _OPTIMIZERS[config.optimizer](
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
    tf_transform_output: tft.TFTransformOutput, config: TrainerConfig
) -> GuardedModel:
    """`build_model` on the features of a tf.Transform output (label excluded)."""
    inputs, numeric, categorical = serving.feature_inputs(tf_transform_output, config.label_key)
    n_classes = serving.num_classes(tf_transform_output, config.label_key)
    return build_model(numeric, categorical, n_classes, config, inputs=inputs)


def drop_missing_labels(features: dict, label: tf.Tensor) -> tuple[dict, tf.Tensor]:
    """Drops the rows of a batch whose label is missing.

    An int label of -1 (missing string label after the vocabulary) and a float label that is
    NaN or +-Inf are missing; those rows are removed from every feature. Other NaN/Inf in the
    features are left alone.
    """
    if label.dtype.is_floating:
        keep = tf.math.is_finite(label)
    else:
        keep = label >= 0
    keep = tf.reshape(keep, [-1])
    features = {name: tf.boolean_mask(value, keep) for name, value in features.items()}
    return features, tf.boolean_mask(label, keep)


def _dataset(files, fn_args, tf_transform_output, config, num_epochs):
    dataset = serving.input_fn(
        files,
        fn_args.data_accessor,
        tf_transform_output,
        config.label_key,
        config.batch_size,
        num_epochs=num_epochs,
        seed=config.seed,
    )
    dataset = dataset.map(drop_missing_labels, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.filter(lambda _, label: tf.size(label) > 0).prefetch(tf.data.AUTOTUNE)


def fit_guarded(
    model: GuardedModel,
    train: tf.data.Dataset,
    config: TrainerConfig,
    steps_per_epoch: int | None = None,
    validation_data: tf.data.Dataset | None = None,
    validation_steps: int | None = None,
    verbose: int = 2,
) -> dict:
    """Trains `model` under the guard and returns the training health report.

    Raises:
        GuardBlockedError: with `nonfinite_policy='raise'`, at the first non-finite step
            (after restoring the last finite weights); the report is still returned through
            the exception's `report` attribute.
    """
    callback = GuardCallback(
        policy=config.nonfinite_policy,
        snapshot_every=config.snapshot_every,
        lr_factor=config.lr_factor,
        max_recoveries=config.max_recoveries,
        extreme_threshold=config.extreme_input_threshold,
        check_numerics=config.check_numerics,
    )
    report = callback.report
    report["config"] = dataclasses.asdict(config)
    try:
        model.fit(
            train,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            validation_steps=validation_steps,
            callbacks=[callback],
            verbose=verbose,
        )
    except GuardBlockedError as err:
        err.report = report
        raise
    return report


def export_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    label_key: str,
    serving_model_dir: str,
) -> None:
    """Checks every weight, then writes the serving SavedModel (serving.py's contract).

    Raises:
        GuardBlockedError: if any weight is NaN or Inf; nothing is written to
            `serving_model_dir`.
    """
    bad = nonfinite_weights(model)
    if bad:
        layers = sorted({b["layer"] for b in bad})
        raise GuardBlockedError(
            f"Refusing to export the model to {serving_model_dir}: {len(bad)} weight tensor(s) "
            f"hold NaN/Inf, in layer(s) {layers} ({bad}). Nothing was written. See "
            f"{HEALTH_REPORT_FILE} in the model run directory; lower trainer.learning_rate or "
            "use trainer.nonfinite_policy='recover'."
        )
    # Export a plain functional model sharing the trained layers: no custom class to load.
    plain = keras.Model(inputs=model.inputs, outputs=model.outputs, name="nanguard_model")
    signatures = serving.serving_signatures(plain, tf_transform_output, label_key)
    plain.save(serving_model_dir, save_format="tf", signatures=signatures)
    logging.info("Guarded model written to %s", serving_model_dir)


def run_fn(fn_args) -> None:
    """TFX Trainer entry point: guarded training, health report, checked export.

    Trains `fn_args.train_steps` steps split over `config.epochs` epochs (one pass per epoch when
    `train_steps` is None). Writes `<model_run_dir>/nanguard_training_health.json` always.

    Raises:
        GuardBlockedError: policy `raise` met a non-finite step, or the trained model holds a
            non-finite weight (nothing exported in either case).
        ValueError: invalid `custom_config` (the message names the key).
    """
    config = TrainerConfig.from_dict(fn_args.custom_config)
    keras.utils.set_random_seed(config.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_steps, eval_steps = fn_args.train_steps, fn_args.eval_steps
    steps_per_epoch = None
    if train_steps:
        epochs = max(1, min(config.epochs, int(train_steps)))
        steps_per_epoch = max(1, int(train_steps) // epochs)
        config = dataclasses.replace(config, epochs=epochs)
    train = _dataset(
        fn_args.train_files, fn_args, tf_transform_output, config, None if train_steps else 1
    )
    evaluation = _dataset(
        fn_args.eval_files, fn_args, tf_transform_output, config, None if eval_steps else 1
    )
    model = build_model_from_transform(tf_transform_output, config)
    report = {"status": "not_started", "config": dataclasses.asdict(config)}
    try:
        report = fit_guarded(
            model,
            train,
            config,
            steps_per_epoch=steps_per_epoch,
            validation_data=evaluation,
            validation_steps=eval_steps or None,
        )
        try:
            export_model(model, tf_transform_output, config.label_key, fn_args.serving_model_dir)
            report["exported"] = True
        except GuardBlockedError:
            report["exported"] = False
            report["status"] = "export_blocked"
            report["nonfinite_weights_at_export"] = nonfinite_weights(model)
            raise
    except GuardBlockedError as err:
        report = getattr(err, "report", report)
        report.setdefault("exported", False)
        raise
    finally:
        write_health_report(report, fn_args.model_run_dir)
