"""Model building: initialisers, regularisation, dropout, encodings, optimizers."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import config as config_lib
from nanguard.components.trainer import model as model_lib
from tests.trainer import _shared


def test_defaults_on_built_model():
    model, config = _shared.model()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.name for layer in dense] == ["dense_0", "dense_1", "output"]
    for layer in dense[:-1]:
        assert type(layer.kernel_initializer) is keras.initializers.HeNormal
        assert layer.activation is keras.activations.relu
    assert type(dense[-1].kernel_initializer) is keras.initializers.GlorotUniform
    for layer in dense:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert layer.kernel_regularizer.l2 == pytest.approx(1e-4)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropouts] == [0.1, 0.1]
    # The step clips with the norm it computes for its check; the optimizer does not clip again.
    assert model.gradient_clipnorm == pytest.approx(1.0)
    assert model.optimizer.global_clipnorm is None
    assert model.optimizer.clipnorm is None and model.optimizer.clipvalue is None
    # He normal: std close to sqrt(2 / fan_in) (truncated normal, within 20%).
    kernel = model.get_layer("dense_0").kernel.numpy()
    assert kernel.std() == pytest.approx(np.sqrt(2.0 / kernel.shape[0]), rel=0.2)
    tanh, _ = _shared.model(activation="tanh", l2=0.0, dropout=0.0, global_clipnorm=None)
    assert type(tanh.get_layer("dense_0").kernel_initializer) is keras.initializers.GlorotUniform
    assert tanh.get_layer("dense_0").kernel_regularizer is None
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in tanh.layers)
    assert tanh.optimizer.global_clipnorm is None
    embedded, _ = _shared.model(categorical_encoding="embedding", embedding_dim=3)
    assert embedded.get_layer("c_embedding").embeddings.shape == (4, 3)
    one_hot = model.get_layer("c_one_hot")
    assert one_hot.num_tokens == 4 and one_hot.output_mode == "one_hot"


def test_linear_adds_a_linear_path_from_the_inputs_to_the_output():
    """Wide & deep: softmax(deep(x) + linear(x)) on the concatenated features. With the deep
    path's output kernel and bias at zero, the model is logistic regression on the features."""
    model, _ = _shared.model(linear=True)
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        "dense_0", "dense_1", "deep", "linear"
    ]  # fmt: skip
    assert model.get_layer("output").dtype == "float32"
    deep, linear = model.get_layer("deep"), model.get_layer("linear")
    deep.set_weights([np.zeros_like(w) for w in deep.get_weights()])
    kernel, bias = (np.asarray(w, np.float64) for w in linear.get_weights())
    assert kernel.shape == (2 + 4, 2)  # a, b and c's one-hot
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=5), "b": rng.normal(size=5), "c": np.array([0, 1, 2, 3, 1])}
    features = np.column_stack([x["a"], x["b"], np.eye(4)[x["c"]]])
    logits = features @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = model({k: v.astype(np.int64 if k == "c" else np.float32) for k, v in x.items()})
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    regressor = model_lib.build_model(
        ["a"], [], None, config_lib.TrainerConfig.from_dict({"linear": True})
    )
    assert regressor.get_layer("linear").kernel.shape == (1, 1)
    assert regressor.get_layer("output").activation is keras.activations.linear


def test_every_configured_optimizer_has_its_keras_class():
    assert tuple(model_lib.KERAS_OPTIMIZERS) == config_lib.OPTIMIZERS
    for name, cls in model_lib.KERAS_OPTIMIZERS.items():
        model, _ = _shared.model(optimizer=name, learning_rate=0.5)
        assert type(model.optimizer) is cls
        assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.5)


@pytest.mark.parametrize("encoding", config_lib.ENCODINGS)
@pytest.mark.parametrize("optimizer", config_lib.OPTIMIZERS)
def test_the_guarded_step_updates_as_keras_does(optimizer, encoding):
    """Every optimizer and encoding, through the guarded step (not rewritten by AutoGraph):
    three steps give the weights of stock Keras's own step on a copy of the model."""
    overrides = {"optimizer": optimizer, "categorical_encoding": encoding, "dropout": 0.0}
    model, _ = _shared.model(global_clipnorm=None, **overrides)
    reference, config = _shared.model(global_clipnorm=None, **overrides)
    plain = keras.Model(reference.inputs, reference.outputs)
    plain.compile(
        optimizer=model_lib.KERAS_OPTIMIZERS[optimizer](learning_rate=config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    x, y = _shared.data(96)
    for step in range(3):
        batch = {k: v[32 * step : 32 * (step + 1)] for k, v in x.items()}
        model.train_on_batch(batch, y[32 * step : 32 * (step + 1)])
        plain.train_on_batch(batch, y[32 * step : 32 * (step + 1)])
    assert int(model.optimizer.iterations.numpy()) == 3
    for ours, theirs in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_initializer_follows_activation_family_and_seed():
    for activation in config_lib.HE_ACTIVATIONS[:2] + config_lib.GLOROT_ACTIVATIONS[:2]:
        model, _ = _shared.model(activation=activation)
        init = model.get_layer("dense_0").kernel_initializer
        he = activation in config_lib.HE_ACTIVATIONS
        expected = keras.initializers.HeNormal if he else keras.initializers.GlorotUniform
        assert type(init) is expected and init.seed == 0
    model, _ = _shared.model(kernel_initializer="zeros", seed=5)
    assert not model.get_layer("dense_1").kernel.numpy().any()
    first, _ = _shared.model(seed=3)
    second, _ = _shared.model(seed=3)
    np.testing.assert_array_equal(
        first.get_layer("dense_1").kernel.numpy(), second.get_layer("dense_1").kernel.numpy()
    )
    assert first.get_layer("dense_1").kernel_initializer.seed == 4  # seed + layer index


def test_build_model_from_transform_reads_features_and_classes():
    transformed = _shared.transformed()
    model = model_lib.build_model_from_transform(
        _shared.transform_output(transformed), _shared.LABEL, config_lib.TrainerConfig()
    )
    assert _shared.LABEL not in model.input_names
    assert sorted(model.input_names) == sorted(
        [*_shared.NUMERIC, *(f"{n}_missing" for n in _shared.NUMERIC), "island"]
    )
    n_species = transformed["frame"][_shared.LABEL].nunique()
    assert model.output_shape == (None, n_species)
    islands = transformed["frame"]["island"].nunique()
    assert model.get_layer("island_one_hot").num_tokens == islands + 1  # + 1 OOV bucket


def test_a_training_split_of_one_class_blocks_naming_the_label(monkeypatch):
    """119 'yes' and one 'no' that the hash split sent to eval: the label's vocabulary holds one
    class, and Keras failed inside its loss (logits [1, 27] against labels [27]), exit 1."""
    monkeypatch.setattr(model_lib.serving, "num_classes", lambda *_: 1)
    transformed = _shared.transformed()
    with pytest.raises(GuardBlockedError) as blocked:
        model_lib.build_model_from_transform(
            _shared.transform_output(transformed), _shared.LABEL, config_lib.TrainerConfig()
        )
    (violation,) = blocked.value.violations
    assert (violation.guard, violation.reason, violation.split) == ("Trainer", "data", "train")
    assert str(blocked.value) == (
        f"label {_shared.LABEL!r} holds 1 class(es) in the training split: a classifier needs "
        "two; the hash split sent every row of the other classes to eval; add rows of the "
        "rarer classes, or pass another --label"
    )


def test_l1_and_elastic_net_penalties_are_in_the_loss_and_in_the_saved_model(tmp_path):
    model, _ = _shared.model(l1=1e-3, l2=1e-4, dropout=0.0)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    kernels = [layer.kernel.numpy() for layer in dense]
    for layer in dense:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L1L2)
        assert layer.kernel_regularizer.l1 == pytest.approx(1e-3)
        assert layer.kernel_regularizer.l2 == pytest.approx(1e-4)
    penalty = sum(1e-3 * np.abs(k).sum() + 1e-4 * np.square(k).sum() for k in kernels)
    assert sum(float(r) for r in model.losses) == pytest.approx(penalty, rel=1e-5)
    x, y = _shared.data(32)
    data_loss = float(keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=False)))
    assert float(model.guarded_loss(y, model(x, training=False))) == pytest.approx(
        data_loss + penalty, rel=1e-5
    )
    l1_only, _ = _shared.model(l1=1e-3, l2=0.0)
    assert l1_only.get_layer("dense_0").kernel_regularizer.l2 == 0.0
    # The exported SavedModel's Keras metadata carries the regulariser and both factors.
    model.save(str(tmp_path / "m"), save_format="tf")
    metadata = (tmp_path / "m" / "keras_metadata.pb").read_bytes()
    assert b'"class_name": "L1L2"' in metadata
    assert b'"l1": 0.0010000000474974513' in metadata or b'"l1": 0.001' in metadata
