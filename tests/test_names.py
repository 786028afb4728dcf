"""names.py: the one derivation of TF scope, op, Keras and vocabulary names from column names."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from nanguard.components import names

LONG = "Länge des Schnabels " + "x" * 180  # 200 characters
HEADERS = [
    "Bill Length (mm)",
    "Bill Depth (mm)",
    "Flipper Länge",
    "体重 (g)",
    "3rd-island/site",
    "a b",
    "a_b",
    "A B",
    "a.b",
    "a-b",
    "a/b",
    "中文",
    "中文 ",
    "é",
    "ü",
    "",
    " ",
    "_",
    "__init__",
    "0",
    LONG,
    LONG + "y",
    "output",
    "a_col",
    "dense_0",
]
PLAIN = ["body_mass_g", "island", "species", "bill_length_mm", "f", "X1", "a_b"]


def test_plain_names_are_kept():
    """Existing vocabulary files and layer names (`island`, `bill_length_mm_col`) keep theirs."""
    for name in PLAIN:
        assert names.tf_name(name) == name


def test_derived_form_and_digest():
    digest = hashlib.sha256(b"a b").hexdigest()[:10]
    assert names.tf_name("a b") == f"a_b__{digest}"
    assert names.tf_name("Bill Length (mm)").startswith("Bill_Length_mm__")
    assert names.tf_name("Flipper Länge").startswith("Flipper_Lange__")  # ä folded to a
    assert names.tf_name("3rd-island/site").startswith("f_3rd_island_site__")
    assert names.tf_name("体重 (g)").startswith("g__")  # CJK dropped from the stem
    assert names.tf_name("中文").startswith("f__")


def test_every_header_gets_a_distinct_safe_name():
    derived = names.tf_names(HEADERS + PLAIN)
    assert len(set(derived.values())) == len(set(HEADERS + PLAIN))
    for name, tf_name in derived.items():
        assert len(tf_name) <= names.MAX_KEPT, name
        assert tf_name.isascii() and tf_name[0].isalpha(), name
        assert all(c.isalnum() or c == "_" for c in tf_name), name
    for a, b in [
        ("a b", "a_b"),
        ("a b", "A B"),
        ("a b", "a.b"),
        ("中文", "中文 "),
        (LONG, LONG + "y"),
    ]:
        assert derived[a] != derived[b]
    # A kept name never holds "__"; a derived one always does: they cannot meet.
    assert "__" in derived["a b"] and "__" not in derived["a_b"]


def test_valid_tf_scope_op_and_vocabulary_names():
    import tensorflow as tf
    from tensorflow_transform import analyzers

    with tf.Graph().as_default():
        for name in HEADERS:
            safe = names.tf_name(name)
            with tf.name_scope(safe) as scope:  # a root scope: the strictest pattern
                op = tf.identity(tf.constant(1.0), name=safe)
            assert scope == f"{safe}/" and op.op.name == f"{safe}/{safe}"
            # tf.Transform keeps the file name as given (it rewrites anything else).
            assert analyzers.sanitized_vocab_filename(filename=safe) == safe
    with pytest.raises(ValueError, match="not a valid root scope name"):
        with tf.Graph().as_default(), tf.name_scope("Bill Depth (mm)"):
            pass  # what the raw header did inside Transform (issue #10)


def test_valid_keras_layer_and_input_names():
    import tensorflow as tf
    import tf_keras as keras

    derived = names.tf_names(HEADERS)
    inputs = {h: keras.layers.Input(shape=(), name=derived[h]) for h in HEADERS}
    cols = [keras.layers.Reshape((1,), name=f"{derived[h]}_col")(inputs[h]) for h in HEADERS]
    out = keras.layers.Dense(1, name="output")(keras.layers.concatenate(cols, name="numeric"))
    model = keras.Model(inputs, out)
    assert sorted(model.input_names) == sorted(derived.values())
    batch = {h: tf.ones([2]) for h in HEADERS}  # called by the original names
    assert model(batch).shape == (2, 1)


def test_stable_across_processes():
    code = (
        "import json, sys; from nanguard.components import names; "
        "print(json.dumps(names.tf_names(json.loads(sys.argv[1]))))"
    )
    import json

    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(HEADERS)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1] == names.tf_names(HEADERS)


def test_a_collision_is_refused_not_merged(monkeypatch):
    monkeypatch.setattr(names, "_DIGEST", 0)  # no digest: `a b` and `a-b` both give `a_b__`
    with pytest.raises(ValueError, match=r"'a b' and 'a-b' both map .* 'a_b__'"):
        names.tf_names(["a b", "a-b"])
    assert names.tf_names(["a b", "a b"]) == {"a b": "a_b__"}  # the same name twice is fine


def test_tf_arg_name_is_tensorflows_parameter_name():
    """The reference is TensorFlow's own sanitizer, on every header above and the pairs it
    merges (`a.b`/`a_b`, ` x`/`_x`), which a saved model cannot load."""
    from tensorflow.core.function.polymorphism.function_type import sanitize_arg_name

    for name in [h for h in HEADERS + PLAIN if h] + [" x", "_x", "x_values", "2010"]:
        assert names.tf_arg_name(name) == sanitize_arg_name(name), name
    assert names.tf_arg_name("a.b") == names.tf_arg_name("a_b") == "a_b"
    assert names.tf_arg_name(" x") == names.tf_arg_name("_x") == "arg__x"
    assert names.tf_arg_name("A B") != names.tf_arg_name("a b")  # case is kept
