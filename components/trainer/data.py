"""Training and evaluation input: transformed examples as `(features, label)` batches.

NaN and Inf: rows whose label is missing (int label -1, float label NaN or +-Inf) are dropped.
A batch left empty is kept (the guarded step trains nothing on it), so that every pass over a
split yields the same number of batches, ceil(rows / batch_size). NaN and Inf in the features
are left alone (the transform repairs them; a step they make non-finite is refused by the guard).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from nanguard.components.trainer import serving
from nanguard.components.trainer.config import TrainerConfig


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


def labelled_dataset(
    files: list[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    label_key: str,
    config: TrainerConfig,
    num_epochs: int | None,
) -> tf.data.Dataset:
    """`serving.input_fn` batches of `config.batch_size`, shuffled with `config.seed`, with
    missing-label rows dropped (a batch may be left empty); `num_epochs` None repeats forever."""
    dataset = serving.input_fn(
        files,
        data_accessor,
        tf_transform_output,
        label_key,
        config.batch_size,
        num_epochs=num_epochs,
        seed=config.seed,
    )
    dataset = dataset.map(drop_missing_labels, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
