"""A team's own Trainer module: a two-tower recommendation model with large embedding tables.

Written the way a team writes one for the stock TFX Trainer (no nanguard in it): `run_fn` reads
tf.Examples (user_id, item_id, user_age, item_price, clicked), trains a user tower and an item
tower whose dot product is the click logit, and saves a SavedModel. `write_examples` makes the
synthetic data the tests and the benchmark train it on. Its hyperparameters come from
`custom_config` (`learning_rate`, `users`, `items`, `dim`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

FEATURES = {
    "user_id": tf.io.FixedLenFeature([], tf.int64),
    "item_id": tf.io.FixedLenFeature([], tf.int64),
    "user_age": tf.io.FixedLenFeature([], tf.float32),
    "item_price": tf.io.FixedLenFeature([], tf.float32),
    "clicked": tf.io.FixedLenFeature([], tf.int64),
}
USERS, ITEMS, DIM = 50_000, 50_000, 16


def write_examples(path: str, rows: int, seed: int = 0, users=USERS, items=ITEMS) -> None:
    """Synthetic clicks: a click when the user's and the item's hidden tastes agree."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, users, rows), rng.integers(0, items, rows)
    taste_u, taste_i = np.sin(user * 0.37), np.cos(item * 0.11)
    age, price = rng.normal(35, 10, rows), rng.lognormal(3, 1, rows)
    clicked = (taste_u * taste_i + 0.1 * rng.normal(size=rows) > 0).astype(np.int64)
    with tf.io.TFRecordWriter(path) as out:
        for i in range(rows):
            feature = {
                "user_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[user[i]])),
                "item_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[item[i]])),
                "user_age": tf.train.Feature(float_list=tf.train.FloatList(value=[age[i]])),
                "item_price": tf.train.Feature(float_list=tf.train.FloatList(value=[price[i]])),
                "clicked": tf.train.Feature(int64_list=tf.train.Int64List(value=[clicked[i]])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            out.write(example.SerializeToString())


def input_fn(files, batch_size: int = 64) -> tf.data.Dataset:
    def parse(records):
        features = tf.io.parse_example(records, FEATURES)
        label = features.pop("clicked")
        return features, label

    return tf.data.TFRecordDataset(files).batch(batch_size).map(parse).repeat()


def build_model(
    learning_rate: float, users=USERS, items=ITEMS, dim=DIM, steps_per_execution=1
) -> keras.Model:
    inputs = {
        "user_id": keras.Input(shape=(), dtype=tf.int64, name="user_id"),
        "item_id": keras.Input(shape=(), dtype=tf.int64, name="item_id"),
        "user_age": keras.Input(shape=(), name="user_age"),
        "item_price": keras.Input(shape=(), name="item_price"),
    }
    user = keras.layers.Embedding(users, dim, name="user_embedding")(inputs["user_id"])
    user = keras.layers.concatenate([user, keras.layers.Reshape((1,))(inputs["user_age"])])
    user = keras.layers.Dense(dim, activation="relu", name="user_tower")(user)
    item = keras.layers.Embedding(items, dim, name="item_embedding")(inputs["item_id"])
    item = keras.layers.concatenate([item, keras.layers.Reshape((1,))(inputs["item_price"])])
    item = keras.layers.Dense(dim, activation="relu", name="item_tower")(item)
    logit = keras.layers.Dot(axes=1, name="score")([user, item])
    model = keras.Model(inputs, logit)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.AUC(from_logits=True)],
        steps_per_execution=steps_per_execution,
    )
    return model


def run_fn(fn_args) -> None:
    config = fn_args.custom_config or {}
    train = input_fn(fn_args.train_files)
    evaluation = input_fn(fn_args.eval_files)
    model = build_model(
        config.get("learning_rate", 1e-3),
        config.get("users", USERS),
        config.get("items", ITEMS),
        config.get("dim", DIM),
    )
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    model.save(fn_args.serving_model_dir, save_format="tf")
