"""The host side of the guard: snapshots, diagnosis and the non-finite policy during `fit`.

`GuardCallback` reads one scalar of a `GuardedModel` (its count of non-finite steps) every
`snapshot_every` steps and at each epoch end. When no step was bad it snapshots the weights and
optimizer state (`GuardedModel.take_snapshot`); after a bad step it diagnoses the captured
batch (`diagnosis.diagnose_batch`), restores the last snapshot and applies `nonfinite_policy`
(`recover`, `stop` or `raise`).
`fit_guarded` trains a model with it, `snapshot_every` steps per Keras call (from the second
epoch when the data's number of batches is unknown until Keras has counted it), and returns the
training health report.

NaN and Inf: a snapshot is only taken when every weight is finite, so a restore always brings
back finite weights; an update that overflowed the weights is caught at the next check and
rolled back. Non-finite numbers in the report are the strings "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras
from absl import logging

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.trainer.diagnosis import diagnose_batch, nonfinite_weights
from nanguard.components.trainer.guarded_model import GuardedModel
from nanguard.components.trainer.health import HEALTH_REPORT_FILE, json_float


class GuardCallback(keras.callbacks.Callback):
    """Applies the non-finite policy of a `GuardedModel` and keeps the training health report.

    Every `config.snapshot_every` steps and at each epoch end it reads one scalar (the count of
    non-finite steps). None: it snapshots weights and optimizer state (in graph, and only if
    every weight is finite), unless the model's train function snapshots itself (after each
    Keras call, or in its step when a call runs more than `snapshot_every` steps; without a
    distribution strategy or a loss scaler: the guard state's `in_step`); then its checks
    within an epoch only read the count. Some: it diagnoses the captured batch
    (`diagnose_batch`), restores the last snapshot and then, by `config.nonfinite_policy`:
      * `recover`: multiplies the learning rate by `lr_factor` and goes on; after
        `max_recoveries` recoveries it stops as `stop` does.
      * `stop`: ends training with the last finite weights restored.
      * `raise`: raises `GuardBlockedError` naming the layer.

    Args:
        config: the trainer section (validated); reads `nonfinite_policy`, `snapshot_every`,
            `lr_factor`, `max_recoveries`, `extreme_input_threshold` and `check_numerics`.
            None: the defaults.

    Attributes:
        report: the training health report (JSON-safe dict), filled during `fit`.
    """

    def __init__(self, config: TrainerConfig | None = None):
        super().__init__()
        # Batch logs stay tensors: no host copy of every metric per call. Set after
        # `Callback.__init__`, which sets it False on the instance (a class attribute is hidden).
        self._supports_tf_logs = True
        config = TrainerConfig() if config is None else config
        self.policy = config.nonfinite_policy
        self.snapshot_every = config.snapshot_every
        self.lr_factor = config.lr_factor
        self.max_recoveries = config.max_recoveries
        self.extreme_threshold = config.extreme_input_threshold
        self.check_numerics = config.check_numerics
        self._config = config
        self.recoveries = 0
        self._epoch = 0
        self._checked_at = 0  # steps of this epoch at the last host check
        self._max_norm = 0.0
        self.report = {
            "file": HEALTH_REPORT_FILE,
            "policy": self.policy,
            "snapshot_every": self.snapshot_every,
            "lr_factor": self.lr_factor,
            "max_recoveries": self.max_recoveries,
            "status": "not_started",
            "epochs": [],
            "loss_per_epoch": [],
            "max_grad_norm": None,
            "max_grad_norm_per_epoch": [],
            "examples": 0,
            "steps": 0,
            "snapshots": 0,
            "nonfinite_events": [],
            "recoveries": 0,
            "lr_changes": [],
            "stopped_early": False,
        }

    def _learning_rate(self) -> float:
        return float(tf.convert_to_tensor(self.model.optimizer.learning_rate))

    # -- callback hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if getattr(self.model, "guard_state", None) is None:
            raise TypeError("GuardCallback needs a compiled GuardedModel or a guard()ed model.")
        self._snapshots_before = int(self.model.guard_state.snapshots.numpy())
        guard = self.model.guard_state  # `every` and `per_call`: read when the step is traced
        guard.every, guard.per_call = self.snapshot_every, _steps_per_call(self.model)
        self.report["status"] = "running"
        self.report["initial_learning_rate"] = json_float(self._learning_rate())
        if not self.model.take_snapshot():
            raise GuardBlockedError(
                "The model holds non-finite weights before training started: "
                f"{nonfinite_weights(self.model)}. Check the initializer and any loaded weights."
            )

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index of the last step of the call (Keras runs `steps_per_execution`
        # steps per call), so this counts steps, not calls.
        if batch + 1 - self._checked_at >= self.snapshot_every:
            # A step that snapshots itself leaves the host one scalar to read.
            self._check(in_step=getattr(self.model.guard_state, "in_step", False))
            self._checked_at = batch + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._checked_at = 0

    def on_epoch_end(self, epoch, logs=None):
        unchecked = self._unchecked()
        self._check()
        guard = self.model.guard_state
        # The largest finite global gradient norm of this epoch (unchecked steps compute
        # none); the variable restarts at 0.
        epoch_norm = None
        if not unchecked:
            epoch_norm = float(guard.max_grad_norm.numpy())
            self._max_norm = max(self._max_norm, epoch_norm)
            guard.max_grad_norm.assign(0.0)
        self.report["max_grad_norm_per_epoch"].append(json_float(epoch_norm))
        entry = {"epoch": epoch}
        for key, value in (logs or {}).items():
            entry[key] = json_float(value)
        entry["max_grad_norm"] = json_float(epoch_norm)
        self.report["epochs"].append(entry)
        if "loss" in entry:
            self.report["loss_per_epoch"].append(entry["loss"])

    def on_train_end(self, logs=None):
        self._check(final=True)
        guard = self.model.guard_state
        self.report["steps"] = int(guard.step.numpy())
        self._max_norm = max(self._max_norm, float(guard.max_grad_norm.numpy()))
        self.report["max_grad_norm"] = json_float(self._max_norm)
        self.report["examples"] = int(guard.examples.numpy())
        self.report["snapshots"] = int(guard.snapshots.numpy()) - self._snapshots_before
        self.report["final_learning_rate"] = json_float(self._learning_rate())
        self.report["recoveries"] = self.recoveries
        if self.report["status"] == "running":
            self.report["status"] = "recovered" if self.recoveries else "ok"

    # -- the policy ---------------------------------------------------------------------------
    def _check(self, final: bool = False, in_step: bool = False) -> None:
        """Snapshots if no step was non-finite; else (or if the snapshot finds a non-finite
        weight that finite steps wrote) handles the event. `in_step`: the steps snapshot
        themselves, so a count of 0 non-finite steps is all there is to check."""
        reason = self._extra_check()
        if reason is None:
            if in_step and int(self.model.guard_state.bad_steps.numpy()) == 0:
                return
            if not in_step and self.model.take_snapshot():  # one call: steps and weights
                return
        self._handle_event(final, reason or "nonfinite_step")

    def _extra_check(self) -> str | None:
        """A reason to act although no step was non-finite (None here; see mixed.py)."""
        return None

    def _unchecked(self) -> bool:
        """True while the steps run unchecked, with no gradient norm (`guard(check='snapshot')`;
        False here, see mixed.py)."""
        return False

    def _handle_event(self, final: bool, reason: str = "nonfinite_step") -> None:
        model, guard = self.model, self.model.guard_state
        step, bad = int(guard.first_bad_step.numpy()), int(guard.bad_steps.numpy())
        if step < 0:  # a host-side reason (mixed.py): the last step taken
            step = int(guard.step.numpy()) - 1
        x, y, weights = model.captured_batch()
        diagnosis = diagnose_batch(
            model, x, y, self.extreme_threshold, self.check_numerics, sample_weight=weights
        )
        lr = self._learning_rate()
        event = {
            "reason": reason,
            "step": step,
            "epoch": self._epoch,
            "nonfinite_steps": bad,
            "learning_rate": json_float(lr),
            "diagnosis": diagnosis,
        }
        self.report["nonfinite_events"].append(event)
        model.restore_snapshot()
        guard.reset_event()
        where = f"layer '{diagnosis['layer']}' ({diagnosis['stage']}, op {diagnosis['op']})"
        logging.warning(
            "nanguard: non-finite training step %s (epoch %s, %s non-finite steps): %s",
            step,
            self._epoch,
            bad,
            where,
        )
        if self.policy == "raise":
            event["action"] = "raise"
            self.report["status"] = "raised"
            raise GuardBlockedError(
                f"Non-finite training step {step} (epoch {self._epoch}): the first NaN/Inf came "
                f"from {where}; extreme inputs: "
                f"{[e['feature'] for e in diagnosis['extreme_inputs']] or 'none'}. "
                "Lower trainer.learning_rate, clip or impute the inputs, or set "
                "trainer.nonfinite_policy to 'recover'."
            )
        if self.policy == "recover" and self.recoveries < self.max_recoveries and not final:
            new_lr = lr * self.lr_factor
            if _has_schedule(model.optimizer):  # a schedule is not settable: kept as it is
                new_lr = lr
            else:
                model.optimizer.learning_rate = new_lr
            self.recoveries += 1
            self.report["lr_changes"].append(
                {
                    "step": step,
                    "epoch": self._epoch,
                    "from": json_float(lr),
                    "to": json_float(new_lr),
                }
            )
            event["action"] = "recovered"
            logging.warning("nanguard: restored last snapshot, learning rate %s -> %s", lr, new_lr)
            return
        event["action"] = "stopped" if not final else "restored_at_end"
        if not final:
            model.stop_training = True
            self.report["stopped_early"] = True
        self.report["status"] = "stopped"
        logging.warning("nanguard: training stopped with the last finite weights restored")


def _has_schedule(optimizer) -> bool:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = getattr(inner, "_learning_rate", None)
    return isinstance(lr, keras.optimizers.schedules.LearningRateSchedule)


class StepsPerCallFromSecondEpoch(keras.callbacks.Callback):
    """Sets `steps_per_execution` once the first epoch (and its validation) has ended.

    By then Keras has counted the batches of the training and validation data, which it needs
    before it runs several steps per call; every later epoch yields as many batches, because
    `data.labelled_dataset` keeps empty batches. `steps_per_execution` is Keras's settable
    property: its data handler reads it before every call.
    """

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.model.steps_per_execution = self.steps


def run_steps_per_call(model: GuardedModel, steps: int) -> None:
    """Makes Keras run `steps` train (and test) steps per call of its compiled function.

    The guard reads the host once per `snapshot_every` steps and freezes updates in graph in
    between, so nothing is lost by running that many steps per call: one Python round trip
    instead of `steps`. Keras traces a one-step function when `steps_per_execution` was 1 at
    its first call, so the functions are traced again, once, as loops; a loop reads the count
    when it runs, and with the count set back to 1 it runs one step (`train_on_batch`).
    """
    model.steps_per_execution = steps
    traced = getattr(model, "_nanguard_loop_functions", None)
    if traced is None or traced != (model.train_function, model.test_function):
        model.make_train_function(force=True)
        model.make_test_function(force=True)
        model._nanguard_loop_functions = (model.train_function, model.test_function)


def fit_guarded(
    model: GuardedModel,
    train: tf.data.Dataset,
    config: TrainerConfig,
    steps_per_epoch: int | None = None,
    validation_data: tf.data.Dataset | None = None,
    validation_steps: int | None = None,
    verbose: int = 2,
) -> dict:
    """Trains `model` for `config.epochs` epochs under the guard; returns the health report.

    With `validation_data` and `config.early_stopping_patience`, training stops once the
    evaluation loss has not improved for that many epochs, and the best epoch's weights are
    restored (a NaN evaluation loss never counts as an improvement). The report records the
    examples trained, the largest gradient norm per epoch and `early_stopping`.

    NaN and Inf: see `GuardCallback`; the report's `config` is `config.to_dict()`.

    Raises:
        GuardBlockedError: with `nonfinite_policy='raise'`, at the first non-finite step
            (after restoring the last finite weights); the report is still returned through
            the exception's `report` attribute.
    """
    callback = GuardCallback(config)
    report = callback.report
    report["config"] = config.to_dict()
    callbacks = [callback]
    patience = config.early_stopping_patience
    stopper = None
    if validation_data is not None and patience:
        # After the guard's callback: the weights it restores are the best finite ones seen.
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=patience,
            restore_best_weights=True,
            start_from_epoch=config.early_stopping_min_epochs,
        )
        callbacks.append(stopper)
    # Keras runs several steps per call only over data whose number of batches it knows: a
    # step budget or a dataset of known size, from the first epoch. TFX's file datasets have
    # no known size; Keras counts their batches in the first epoch (one step per call), so
    # whole epochs over them run several steps per call from the second epoch on.
    sized = steps_per_epoch is not None or int(train.cardinality()) >= 0
    if validation_data is not None and validation_steps is None:
        sized = sized and int(validation_data.cardinality()) >= 0
    steps_per_call = config.snapshot_every
    from_epoch = 0 if sized or steps_per_call == 1 else 1
    if steps_per_call > 1:
        run_steps_per_call(model, steps_per_call)
    if from_epoch:
        model.steps_per_execution = 1
        callbacks.append(StepsPerCallFromSecondEpoch(steps_per_call))
    try:
        model.fit(
            train,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            validation_steps=validation_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
    except GuardBlockedError as err:
        err.report = report
        raise
    finally:
        model.steps_per_execution = 1  # a later train_on_batch or evaluate: one step per call
    report["validation_steps_per_epoch"] = validation_steps
    report["steps_per_call"] = steps_per_call
    report["steps_per_call_from_epoch"] = from_epoch
    if stopper is not None:
        report["early_stopping"] = {
            "patience": patience,
            "stopped": bool(stopper.stopped_epoch),
            "best_epoch": stopper.best_epoch,
            "best_val_loss": json_float(stopper.best),
        }
    return report


def _steps_per_call(model) -> int:
    """Keras's `steps_per_execution` of `model` (1 when it has none)."""
    steps = getattr(model, "_steps_per_execution", None)
    return 1 if steps is None else int(steps.numpy())
