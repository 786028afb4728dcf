"""Small tf_keras models of every kind, seeded, for the tests of `guard(model)` and its bench.

Every builder returns `(model, data)` where `data` is `(x, y, sample_weight)` as numpy: the same
seed gives the same weights and data, so a guarded model and its unguarded twin can be compared
step for step. The initializers are seeded one by one, so weights do not depend on whether the
model was built eagerly or inside a traced step.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

ROWS, BATCH = 256, 32
VOCAB = 50_000  # "large vocabulary": a 50k-row embedding table


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def _regression(seed=0, rows=ROWS, features=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) + 0.1 * rng.normal(size=(rows, 1))).astype("float32")
    return x, y


def sequential(loss="mse", optimizer=None, lr=0.01, jit_compile=False, steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu", kernel_initializer=_init(1)),
            keras.layers.Dense(1, kernel_initializer=_init(2)),
        ]
    )
    model.compile(
        optimizer or keras.optimizers.SGD(lr),
        loss=loss,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x, y = _regression()
    return model, (x, y, None)


def functional(lr=0.01, jit_compile=False, steps_per_execution=1):
    """Several inputs (one a 50k-vocabulary id), two outputs, a loss per output, sample weights."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    dense = keras.layers.Input(shape=(4,), name="dense")
    item = keras.layers.Input(shape=(), dtype="int64", name="item")
    emb = keras.layers.Embedding(VOCAB, 4, embeddings_initializer=_init(3), name="item_emb")(item)
    h = keras.layers.concatenate([dense, emb])
    h = keras.layers.Dense(8, activation="relu", kernel_initializer=_init(4), name="hidden")(h)
    score = keras.layers.Dense(1, kernel_initializer=_init(5), name="score")(h)
    klass = keras.layers.Dense(2, "softmax", kernel_initializer=_init(6), name="klass")(h)
    model = keras.Model({"dense": dense, "item": item}, {"score": score, "klass": klass})
    model.compile(
        keras.optimizers.SGD(lr),
        loss={"score": keras.losses.MeanSquaredError(), "klass": "sparse_categorical_crossentropy"},
        loss_weights={"score": 1.0, "klass": 0.5},
        metrics={"klass": ["accuracy"]},
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x, y = _regression()
    items = rng.integers(0, VOCAB, ROWS).astype("int64")
    targets = {"score": y, "klass": (y[:, 0] > 0).astype("int64")}
    weights = rng.uniform(0.5, 2.0, ROWS).astype("float32")
    return model, ({"dense": x, "item": items}, targets, weights)


class Tower(keras.Model):
    """A subclassed model: no Input, weights made on the first call; a loss function."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="tanh", kernel_initializer=_init(7))
        self.out = keras.layers.Dense(1, kernel_initializer=_init(8))

    def call(self, inputs, training=False):
        return self.out(self.hidden(inputs))


def subclassed(lr=0.01, jit_compile=False, steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = Tower()
    model.compile(
        keras.optimizers.SGD(lr),
        loss=keras.losses.mean_squared_error,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x, y = _regression()
    return model, (x, y, None)


class OwnStep(Tower):
    """A subclassed model with its own `train_step` (Keras's documented pattern)."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return {m.name: m.result() for m in self.metrics}


def own_step(lr=0.01, jit_compile=False, steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = OwnStep()
    model.compile(
        keras.optimizers.SGD(lr),
        loss="mse",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x, y = _regression()
    return model, (x, y, None)


KINDS = {
    "sequential": sequential,
    "functional": functional,
    "subclassed": subclassed,
    "own_train_step": own_step,
}


def dataset(data, batch=BATCH):
    x, y, w = data
    parts = (x, y) if w is None else (x, y, w)
    return tf.data.Dataset.from_tensor_slices(parts).batch(batch)


def weights(model) -> list[np.ndarray]:
    return [np.asarray(v) for v in model.weights]


def all_finite(model) -> bool:
    return all(np.isfinite(w).all() for w in weights(model) if w.dtype.kind == "f")
