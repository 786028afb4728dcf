"""`nanguard wrap-model` on team models nanguard did not train, tested as served: hostile
requests (NaN, +/-Inf, missing features, 1e38, a string in a float feature) through the wrapped
signatures of the reloaded SavedModel, flags checked against a numpy count of the same requests,
original outputs bit-identical to the unwrapped model's."""

from __future__ import annotations

import hashlib
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.served_flags import FINITE_KEY, REJECT_MESSAGE, finite_rows, repair_flags
from nanguard.components.serving_guard import wrap
from nanguard.pipelines.cli import main
from tests.serving_guard import _team_models

NAN, INF = math.nan, math.inf
FLAGS = wrap.NONFINITE_INPUTS_KEY


class _Odd(tf.Module):
    """Signatures the wrapper must refuse, next to one it can wrap."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def text(self, text):  # strings, but no tf.Example parse in the graph
        return {"length": tf.cast(tf.strings.length(text), tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="z")])
    def scalar(self, z):  # no batch dimension
        return {"out": z * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="z")])
    def ok(self, z):
        return {"out": tf.reduce_sum(z, 1)}


def _checksums(folder: str) -> dict:
    sums = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                sums[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return sums


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{name: SavedModel folder} of the team models, each with its checksums before wrapping."""
    root = tmp_path_factory.mktemp("team")
    vocab_file = str(root / "vocab.txt")
    with open(vocab_file, "w") as f:
        f.write("red\ngreen\n")
    paths = {k: str(root / k) for k in ("tensors", "examples", "odd")}
    _team_models.tensor_model(paths["tensors"])
    _team_models.example_model(paths["examples"], vocab_file)
    os.remove(vocab_file)  # the model's own assets/ copy is what serves
    odd = _Odd()
    tf.saved_model.save(odd, paths["odd"], signatures={"text": odd.text, "ok": odd.ok,
                                                       "scalar": odd.scalar})  # fmt: skip
    return paths, {k: _checksums(p) for k, p in paths.items()}


@pytest.fixture(scope="module")
def wrapped(models, tmp_path_factory):
    """{name: (original signature, wrapped signature)} for the tensor and tf.Example models,
    wrapped through the command line, flag and reject policies."""
    paths, _ = models
    out = tmp_path_factory.mktemp("wrapped")
    found = {"out": out}
    for name in ("tensors", "examples"):
        for policy in ("flag", "reject"):
            target = str(out / f"{name}-{policy}")
            argv = ["wrap-model", "--model", paths[name], "--output", target]
            assert main([*argv, "--nonfinite-input", policy]) == 0
            original = tf.saved_model.load(paths[name]).signatures["serving_default"]
            found[name, policy] = (
                original,
                tf.saved_model.load(target).signatures["serving_default"],
            )
    return found


def _assert_outputs_identical(got: dict, original: dict) -> None:
    assert set(got) == set(original) | {FLAGS, FINITE_KEY}
    for name, value in original.items():
        assert got[name].dtype == value.dtype
        np.testing.assert_array_equal(got[name].numpy(), value.numpy())  # NaN where NaN


def test_tensor_signature_flags_match_a_numpy_count_and_outputs_are_bit_identical(wrapped):
    original, signature = wrapped["tensors", "flag"]
    a = np.array([[1.0], [NAN], [INF], [-INF], [1e38], [2.0]], np.float32)
    b = np.array([[1, 2, 3], [0, 0, 0], [NAN, INF, -INF], [1, 1, 1], [0, 0, 0], [NAN] * 3],
                 np.float32)  # fmt: skip
    n = np.array([[1], [2], [3], [4], [5], [6]], np.int64)
    got = signature(a=tf.constant(a), b=tf.constant(b), n=tf.constant(n))
    unwrapped = original(a=tf.constant(a), b=tf.constant(b), n=tf.constant(n))
    _assert_outputs_identical(got, unwrapped)
    expected = (~np.isfinite(a)).sum(1) + (~np.isfinite(b)).sum(1)
    assert expected.tolist() == [0, 1, 4, 1, 0, 3]
    assert got[FLAGS].dtype == tf.int64 and got[FLAGS].numpy().tolist() == expected.tolist()
    finite = np.all([np.isfinite(v.numpy()).reshape(6, -1).all(1) for v in unwrapped.values()], 0)
    assert finite.tolist() == [True, False, False, False, False, False]  # 1e38 * 10 is Inf
    assert got[FINITE_KEY].numpy().tolist() == finite.tolist()
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        signature(a=tf.constant([["1.0"]]), b=tf.constant(b[:1]), n=tf.constant(n[:1]))


def test_tensor_signature_reject_names_the_feature_and_passes_finite_requests(wrapped):
    original, signature = wrapped["tensors", "reject"]
    a, n = tf.constant([[1.0], [2.0]]), tf.constant([[1], [2]], tf.int64)
    b = tf.constant([[1.0, 2.0, 3.0], [0.0, -INF, 1.0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{REJECT_MESSAGE}: feature `b`"):
        signature(a=a, b=b, n=n)
    got = signature(a=a[:1], b=b[:1], n=n[:1])
    _assert_outputs_identical(got, original(a=a[:1], b=b[:1], n=n[:1]))
    assert got[FLAGS].numpy().tolist() == [0]


REQUESTS = [
    {"x": [1.0], "v": [1.0, 2.0], "r": [1], "cat": [b"red"]},  # nothing wrong
    {"x": [NAN], "v": [1.0], "r": [1], "cat": [b"red"]},
    {"x": [2.0], "v": [INF, -INF, 1.0], "r": [2, 3], "cat": [b"green"]},
    {"v": [1.0], "r": [1]},  # x and cat missing (the model fills their defaults)
    {"x": [1e38], "v": [], "r": [], "cat": [b"blue"]},  # huge; v and r empty; OOV
    {},  # every feature missing
]


def _numpy_count(row: dict) -> int:
    """Missing features (one each) + NaN/Inf values: what the flag must say."""
    count = sum(1 for key in _team_models.EXAMPLE_SPEC if not row.get(key))
    floats = [v for key in ("x", "v") for v in row.get(key, [])]
    return count + int((~np.isfinite(np.array(floats, np.float64))).sum())


def test_example_signature_flags_match_a_numpy_count_and_outputs_are_bit_identical(wrapped):
    original, signature = wrapped["examples", "flag"]
    examples = tf.constant([_team_models.example(r) for r in REQUESTS])
    got = signature(examples=examples)
    unwrapped = original(examples=examples)
    _assert_outputs_identical(got, unwrapped)
    expected = [_numpy_count(r) for r in REQUESTS]
    assert expected == [0, 1, 2, 2, 2, 4]
    assert got[FLAGS].numpy().tolist() == expected
    finite = np.isfinite(unwrapped["y"].numpy()).all(1)
    assert finite.tolist() == [True, False, False, True, False, True]
    assert got[FINITE_KEY].numpy().tolist() == finite.tolist()


def test_a_string_in_a_float_feature_fails_the_request_naming_the_key(wrapped):
    _, signature = wrapped["examples", "flag"]
    bad = tf.constant([_team_models.example(REQUESTS[0]), _team_models.example({"x": [b"4.2"]})])
    with pytest.raises(tf.errors.InvalidArgumentError, match="Key: x"):
        signature(examples=bad)


def test_example_signature_reject_names_the_feature(wrapped):
    original, signature = wrapped["examples", "reject"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{REJECT_MESSAGE}: feature `v`"):
        signature(
            examples=tf.constant(
                [_team_models.example(REQUESTS[0]), _team_models.example(REQUESTS[2])]
            )
        )
    fine = tf.constant(
        [_team_models.example(REQUESTS[0]), _team_models.example(REQUESTS[3])]
    )  # missing is flagged
    got = signature(examples=fine)
    _assert_outputs_identical(got, original(examples=fine))
    assert got[FLAGS].numpy().tolist() == [0, 2]


def test_the_wrapped_model_stands_alone_and_the_original_is_untouched(models, wrapped):
    paths, before = models
    assert {k: _checksums(p) for k, p in paths.items()} == before
    target = wrapped["out"] / "examples-flag"
    assert (target / "assets" / "vocab.txt").read_text() == "red\ngreen\n"
    assert (target / "assets.extra" / "tf_serving_warmup_requests").read_bytes() == b"warmup"
    moved = paths["examples"] + "-moved"
    shutil.move(paths["examples"], moved)  # the wrapped model needs nothing of the original
    try:
        got = tf.saved_model.load(str(target)).signatures["serving_default"](
            examples=tf.constant([_team_models.example(r) for r in REQUESTS])
        )
    finally:
        shutil.move(moved, paths["examples"])
    original, _ = wrapped["examples", "flag"]
    _assert_outputs_identical(
        got, original(examples=tf.constant([_team_models.example(r) for r in REQUESTS]))
    )


def _refused(argv: list[str], capsys) -> str:
    assert main(["wrap-model", *argv]) == 2
    return capsys.readouterr().err


def test_signatures_it_cannot_understand_are_refused_and_nothing_is_written(
    models, tmp_path, capsys
):
    paths, before = models
    out = str(tmp_path / "odd")
    err = _refused(["--model", paths["odd"], "--output", out], capsys)
    assert "signature 'scalar' cannot be wrapped" in err and "no leading batch" in err
    err = _refused(["--model", paths["odd"], "--output", out, "--signature", "text"], capsys)
    assert "signature 'text' cannot be wrapped" in err and "pass --schema" in err
    err = _refused(["--model", paths["odd"], "--output", out, "--signature", "nope"], capsys)
    assert "--signature ['nope']" in err and "'ok'" in err
    assert not os.path.exists(out) and os.listdir(tmp_path) == []  # no staging left either
    assert main(["wrap-model", "--model", paths["odd"], "--output", out, "--signature", "ok"]) == 0
    loaded = tf.saved_model.load(out)
    assert set(loaded.signatures) == {"ok", "text", "scalar"}  # the others kept as they were
    got = loaded.signatures["ok"](z=tf.constant([[1.0, NAN], [1.0, 2.0]]))
    assert got[FLAGS].numpy().tolist() == [1, 0]
    assert got[FINITE_KEY].numpy().tolist() == [False, True]
    assert loaded.signatures["scalar"](z=tf.constant(2.0))["out"].numpy() == 4.0
    assert _checksums(paths["odd"]) == before["odd"]
    # Wrapped once is enough: its outputs would clash.
    err = _refused(
        ["--model", out, "--output", str(tmp_path / "again"), "--signature", "ok"], capsys
    )
    assert "signature 'ok' cannot be wrapped" in err and "nanguard_finite" in err


def test_a_schema_gives_the_features_of_a_string_signature(models, tmp_path):
    paths, _ = models
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(
        'default_environment: "TRAINING"\ndefault_environment: "SERVING"\n'
        'feature { name: "t" type: FLOAT }\n'
        'feature { name: "label" type: INT not_in_environment: "SERVING" }\n'
    )
    out = str(tmp_path / "text")
    argv = ["--model", paths["odd"], "--output", out, "--signature", "text"]
    assert main(["wrap-model", *argv, "--schema", str(schema)]) == 0
    text = tf.saved_model.load(out).signatures["text"]
    got = text(text=tf.constant([_team_models.example({"t": [INF]}), _team_models.example({})]))
    assert got[FLAGS].numpy().tolist() == [1, 1]  # Inf; t missing (label is not served)


def test_an_existing_output_is_never_overwritten(models, tmp_path, capsys):
    paths, _ = models
    (tmp_path / "keep.txt").write_text("mine")
    err = _refused(["--model", paths["odd"], "--output", str(tmp_path)], capsys)
    assert "--output" in err and "never overwrites" in err
    assert os.listdir(tmp_path) == ["keep.txt"]
    err = _refused(["--model", paths["odd"], "--output", paths["odd"] + "/inside"], capsys)
    assert "never modified" in err


def test_graph_features_are_the_parse_spec(models):
    paths, _ = models
    fn = tf.saved_model.load(paths["examples"]).signatures["serving_default"]
    plan = wrap.plan_signature("serving_default", fn)
    assert plan.kind == wrap.EXAMPLES and plan.source == "graph"
    assert plan.features == {"x": tf.float32, "v": tf.float32, "r": tf.int64, "cat": tf.string}


def test_finite_rows_reads_every_value_of_an_example():
    cube = np.ones((3, 2, 2), np.float32)
    cube[1, 1, 0], cube[2, 0, 1] = NAN, -INF
    assert finite_rows(tf.constant(cube)).numpy().tolist() == [True, False, False]
    traced = tf.function(finite_rows).get_concrete_function(tf.TensorSpec(None, tf.float32))
    assert traced(tf.constant(cube)).numpy().tolist() == [True, False, False]


def test_finite_rows_keeps_float64_precision():
    assert finite_rows(tf.constant([[1e300], [np.inf]], tf.float64)).numpy().tolist() == [
        True,
        False,
    ]


def _as_sparse(dense: np.ndarray) -> tf.SparseTensor:
    """Every cell of a [rows, width] array as a value (tf.sparse.from_dense drops zeros)."""
    rows, width = dense.shape
    indices = [[i, j] for i in range(rows) for j in range(width)]
    return tf.SparseTensor(tf.constant(indices, tf.int64, [len(indices), 2]), dense.reshape(-1),
                           [rows, width])  # fmt: skip


def _traced_flags(ranges: dict, specs: dict):
    count = tf.function(lambda **f: repair_flags(f, ranges, tf.shape(f["f"])[0]), autograph=False)
    return count.get_concrete_function(**specs)


@pytest.mark.parametrize("rows, width", [(7, 3), (4, 1), (3, 0), (0, 2)])
def test_dense_features_are_counted_as_their_sparse_form(rows, width):
    """`repair_flags`' dense path (tensor signatures) agrees with its sparse one: missing for a
    row without values, then each NaN, +/-Inf or out-of-range value, ints range-checked only."""
    rng = np.random.default_rng(rows * 10 + width)
    pool = np.array([NAN, INF, -INF, 1e38, -3.0, 0.5, 2.0], np.float32)
    dense = {
        "f": rng.choice(pool, (rows, width)).astype(np.float32),
        "g": rng.choice(pool, (rows, width)).astype(np.float64),
        "i": rng.integers(-3, 9, (rows, width)),
        "s": np.full((rows, width), b"x", object),
    }
    ranges = {"f": (-1.0, 1.0), "g": None, "i": (0, 5), "s": None}
    sparse = {k: _as_sparse(v) for k, v in dense.items()}
    for spec in (ranges, {}):
        expected = repair_flags(sparse, spec, rows).numpy().tolist()
        got = repair_flags({k: tf.constant(v) for k, v in dense.items()}, spec, rows)
        assert got.numpy().tolist() == expected
        # The width unknown when traced (a [None, None] input): the dynamic path.
        specs = {k: tf.TensorSpec([None, None], tf.as_dtype(v.dtype if k != "s" else tf.string))
                 for k, v in dense.items()}  # fmt: skip
        got = _traced_flags(spec, specs)(**{k: tf.constant(v) for k, v in dense.items()})
        assert got.numpy().tolist() == expected


def test_the_signature_def_answers_as_tf_serving_runs_it(wrapped):
    """TF Serving's C++ loader runs the SignatureDef by tensor names in a session over the
    MetaGraph; the TF1 loader does the same here."""
    target = str(wrapped["out"] / "examples-flag")
    examples = [_team_models.example(r) for r in REQUESTS]
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.load(session, ["serve"], target)
        signature = meta.signature_def["serving_default"]
        names = sorted(signature.outputs)
        fetched = session.run(
            [signature.outputs[n].name for n in names],
            {signature.inputs["examples"].name: examples},
        )
    got = dict(zip(names, fetched, strict=True))
    assert got[FLAGS].tolist() == [_numpy_count(r) for r in REQUESTS]
    original, _ = wrapped["examples", "flag"]
    unwrapped = original(examples=tf.constant(examples))
    np.testing.assert_array_equal(got["y"], unwrapped["y"].numpy())
    assert got[FINITE_KEY].tolist() == np.isfinite(unwrapped["y"].numpy()).all(1).tolist()


def test_the_features_of_a_tf1_parse_example_op_are_read_too():
    def serve(**request):
        parsed = tf.raw_ops.ParseExample(
            serialized=request["examples"],
            names=tf.constant([], tf.string),
            sparse_keys=[tf.constant("tags")],
            dense_keys=[tf.constant("x"), tf.constant("n")],
            dense_defaults=[tf.constant([0.0]), tf.constant([0], tf.int64)],
            sparse_types=[tf.string],
            dense_shapes=[[1], [1]],
        )
        return {"y": parsed.dense_values[0] + tf.cast(parsed.dense_values[1], tf.float32)}

    # Named inputs, as a loaded signature has them.
    fn = tf.function(serve).get_concrete_function(examples=tf.TensorSpec([None], tf.string))
    plan = wrap.plan_signature("v1", fn)
    assert plan.source == "graph"
    assert plan.features == {"tags": tf.string, "x": tf.float32, "n": tf.int64}
