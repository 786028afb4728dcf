"""Team models nanguard did not train, for `wrap-model`'s tests and benchmark: a tf_keras model
over a dict of tensors, and one whose serving signature parses tf.Examples itself."""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras as keras


def _hidden(x, hidden: tuple[int, ...]):
    """`x` through Dense relu layers of `hidden` units (a model with some compute)."""
    for units in hidden:
        x = keras.layers.Dense(units, activation="relu")(x)
    return x


def tensor_model(path: str, hidden: tuple[int, ...] = ()) -> None:
    """A tf_keras functional model over a dict of tensors, saved with its tensor signature.
    `score` overflows to Inf for a >= 1e38 (no `hidden` layers); `wide` is float64 (1e300 is
    finite there)."""
    a = keras.Input(shape=(1,), name="a")
    b = keras.Input(shape=(3,), name="b")
    n = keras.Input(shape=(1,), name="n", dtype="int64")
    n_float = keras.layers.Lambda(lambda t: tf.cast(t, tf.float32))(n)
    joined = keras.layers.Concatenate()([a * 10.0, b, n_float])
    score = keras.layers.Dense(1, kernel_initializer="ones", name="score")(_hidden(joined, hidden))
    wide = keras.layers.Lambda(lambda t: tf.cast(t, tf.float64) * 1e300, name="wide")(b)
    keras.Model({"a": a, "b": b, "n": n}, [score, wide]).save(path)


EXAMPLE_SPEC = {
    "x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    "v": tf.io.VarLenFeature(tf.float32),
    "r": tf.io.RaggedFeature(tf.int64),
    "cat": tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
}


def example_model(path: str, vocab_file: str, hidden: tuple[int, ...] = ()) -> None:
    """A model whose serving signature parses tf.Examples itself (fixed, VarLen, ragged and a
    string feature through a StringLookup over a vocabulary file, an asset), with a warmup file
    in assets.extra."""
    x = keras.Input(shape=(1,), name="x")
    v = keras.Input(shape=(1,), name="v")
    cat = keras.Input(shape=(1,), name="cat", dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=vocab_file, output_mode="one_hot")(cat)
    joined = keras.layers.Concatenate()([x * 10.0, v, keras.layers.Flatten()(lookup)])
    y = keras.layers.Dense(2, name="y")(_hidden(joined, hidden))
    model = keras.Model({"x": x, "v": v, "cat": cat}, y)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        f = tf.io.parse_example(examples, EXAMPLE_SPEC)
        v_sum = tf.sparse.reduce_sum(f["v"], 1, keepdims=True, output_is_sparse=False)
        r_sum = tf.cast(tf.reduce_sum(f["r"], 1, keepdims=True), tf.float32)
        return {"y": model({"x": f["x"], "v": v_sum + r_sum, "cat": f["cat"]})}

    model.save(path, signatures={"serving_default": serve.get_concrete_function()})
    os.makedirs(os.path.join(path, "assets.extra"))
    with open(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"), "wb") as f:
        f.write(b"warmup")


def example(row: dict) -> bytes:
    """A serialized tf.Example of {feature: values}; `r` is int64, bytes are a bytes_list."""
    feature = {}
    for key, values in row.items():
        if values and isinstance(values[0], bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif key == "r":
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
