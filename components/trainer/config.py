"""The guarded trainer's config section (`trainer:` in the YAML)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nanguard.components.config import (
    DOTTED_PATH,
    Flag,
    FunctionSection,
    ListOf,
    Number,
    OneOf,
    Text,
    setting,
)

NONFINITE_POLICIES = ("recover", "stop", "raise")
# What a served request holding NaN or +/-Inf gets (`served_flags.reject_nonfinite`).
NONFINITE_INPUT_POLICIES = ("repair", "reject")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad")
ENCODINGS = ("one_hot", "embedding")
HE_ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "silu", "leaky_relu", "relu6")
GLOROT_ACTIVATIONS = ("tanh", "sigmoid", "softmax", "linear", "hard_sigmoid", "softsign")
POSITIVE = Number(0.0, open_low=True)


@dataclasses.dataclass(frozen=True)
class TrainerConfig(FunctionSection):
    """The model, its regularisation, and what the guard does about a non-finite step.

    `run_fn` names a team's own Trainer function instead (a dotted path): then every other key
    of the section is that function's `custom_config`, passed on unchecked.
    """

    name: ClassVar[str] = "trainer"
    function_key: ClassVar[str] = "run_fn"

    hidden_units: tuple = setting(
        (16, 8), ListOf(Number(1, integer=True), min_len=1), "widths of the hidden Dense layers"
    )
    linear: bool = setting(
        False,
        Flag(),
        "also connect the features to the output through one linear layer (wide & deep)",
    )
    activation: str = setting(
        "relu",
        OneOf(HE_ACTIVATIONS + GLOROT_ACTIVATIONS),
        "He init for the ReLU family, Glorot for tanh/sigmoid",
    )
    kernel_initializer: str | None = setting(
        None, Text(none=True), "a Keras initializer name instead of the automatic choice"
    )
    l1: float = setting(
        0.0, Number(0.0), "L1 factor on every Dense kernel (0: off; with l2: elastic net)"
    )
    l2: float = setting(1e-4, Number(0.0), "L2 factor on every Dense kernel (0: off)")
    dropout: float = setting(
        0.1, Number(0.0, 1.0, open_high=True), "dropout after every hidden layer (0: off)"
    )
    categorical_encoding: str = setting(
        "one_hot", OneOf(ENCODINGS), "how vocabulary features enter the model"
    )
    embedding_dim: int = setting(4, Number(1, integer=True), "with categorical_encoding: embedding")
    optimizer: str = setting("adam", OneOf(OPTIMIZERS), "the optimizer")
    learning_rate: float = setting(1e-2, POSITIVE, "initial learning rate")
    global_clipnorm: float | None = setting(
        1.0, Number(0.0, open_low=True, none=True), "clip the global gradient norm (null: off)"
    )
    batch_size: int = setting(32, Number(1, integer=True), "training and evaluation batch size")
    epochs: int = setting(
        100, Number(1, integer=True), "at most this many passes over the training split"
    )
    early_stopping_patience: int | None = setting(
        10,
        Number(1, integer=True, none=True),
        "stop after this many epochs without a lower evaluation loss, keeping the best weights "
        "(null: off)",
    )
    early_stopping_min_epochs: int = setting(
        5,
        Number(0, integer=True),
        "epochs trained before early stopping watches the loss: the weights it keeps are "
        "never those of an earlier, barely trained epoch",
    )
    train_steps: int | None = setting(
        None,
        Number(1, integer=True, none=True),
        "a cap: training batches in all, split evenly over the epochs (null: whole epochs)",
    )
    eval_steps: int | None = setting(
        None,
        Number(1, integer=True, none=True),
        "evaluation batches in all, split evenly over the epochs, at least one each "
        "(null: the whole evaluation split every epoch)",
    )
    nonfinite_policy: str = setting(
        "recover", OneOf(NONFINITE_POLICIES), "on a non-finite step: recover, stop or raise"
    )
    nonfinite_input: str = setting(
        "repair",
        OneOf(NONFINITE_INPUT_POLICIES),
        "what a served request holding NaN or +/-Inf gets: repaired by the transform graph "
        "(flagged in nanguard_repaired), or refused with INVALID_ARGUMENT naming the feature",
    )
    snapshot_every: int = setting(
        20,
        Number(1, integer=True),
        "steps between host checks and weight snapshots (also the steps Keras runs per call)",
    )
    lr_factor: float = setting(
        0.1, Number(0.0, 1.0, open_low=True, open_high=True), "LR multiplier per recovery"
    )
    max_recoveries: int = setting(5, Number(0, integer=True), "recoveries before stopping")
    mixed_precision: bool = setting(False, Flag(), "mixed_float16 with a LossScaleOptimizer")
    min_loss_scale: float = setting(
        1.0, Number(0.0), "mixed precision: a loss scale at or below this triggers the policy"
    )
    max_loss_scale_skip_rate: float = setting(
        0.5, Number(0.0, 1.0), "mixed precision: skipped steps per host check that trigger it"
    )
    extreme_input_threshold: float = setting(
        1e3, POSITIVE, "|transformed value| the diagnosis reports as extreme"
    )
    check_numerics: bool = setting(True, Flag(), "name the first non-finite op on an event")
    seed: int = setting(0, Number(integer=True), "seed of initialisers, dropout and shuffling")
    run_fn: str | None = setting(
        None,
        DOTTED_PATH,
        "a team's own run_fn instead of nanguard's",
    )
