"""The callback of `guard(model)`: mixed precision under the guard (loss-scale skips counted, a
collapsing scale acted on) and the host side of `check='snapshot'` (the loss read after each
Keras call and its steps counted; the train function that snapshots after its steps picked for
the calls after which a snapshot is due).

With the `mixed_float16` policy a `LossScaleOptimizer` skips, by design, every step whose scaled
gradients overflow, and halves the loss scale (down to 1). The guarded step counts those skips
(`scale_skips`) instead of treating them as divergence, and checks the forward loss itself (a
non-finite loss is an event as always). At each host check `AnyGuardCallback` also reads the
loss scale: a scale at or below `trainer.min_loss_scale`, or more skipped steps since the last
check than `trainer.max_loss_scale_skip_rate` of them, is an event handled by the policy
(restore, lower the learning rate, stop or raise). `warn_float16_outputs` is the build check:
a float16 output overflows above 65504 (a logit, a softmax's input), so Keras's advice is a
float32 output layer.

NaN and Inf: a skipped step changes no weight (the optimizer skips it); the report holds the
count of skips, the smallest scale seen and the last scale.
"""

from __future__ import annotations

import math

import tf_keras as keras
from absl import logging

from nanguard.components.trainer.any_state import VERDICT
from nanguard.components.trainer.fit import GuardCallback
from nanguard.components.trainer.guarded_model import _is_lso
from nanguard.components.trainer.health import json_float


def warn_float16_outputs(outputs, report: dict | None = None) -> list[int]:
    """Warns (log and `report["warnings"]`) for each float16 model output; returns their indices."""
    bad = [i for i, t in enumerate(outputs) if getattr(t, "dtype", None) == "float16"]
    if bad:
        message = (
            f"model output(s) {bad} are float16 under mixed precision: a value above 65504 "
            "overflows to Inf. Give the output layer dtype='float32' (Keras's advice)."
        )
        logging.warning("nanguard: %s", message)
        if report is not None:
            report.setdefault("warnings", []).append(
                {"kind": "float16_output", "outputs": bad, "advice": message}
            )
    return bad


# Keras's callbacks that run at batch ends but only read the logs.
_READ_ONLY = (
    keras.callbacks.TerminateOnNaN,
    keras.callbacks.ProgbarLogger,
    keras.callbacks.TensorBoard,
)


def _writes_at_batch_end(callback) -> bool:
    hooks = getattr(callback, "_implements_train_batch_hooks", None)
    return type(callback) not in _READ_ONLY and (hooks is None or hooks())  # not a subclass


class AnyGuardCallback(GuardCallback):
    """`GuardCallback` plus the loss-scale checks of a mixed-precision optimizer."""

    def __init__(self, config=None, later=()):
        super().__init__(config)
        # Unchecked steps: the epoch's end is checked in its last call, unless a callback after
        # the guard (`later`) runs at batch ends and so could write the weights after that call.
        self._alone = not any(_writes_at_batch_end(callback) for callback in later)
        self.min_loss_scale = self._config_value("min_loss_scale", 1.0)
        self.max_skip_rate = self._config_value("max_loss_scale_skip_rate", 0.5)
        self._seen = (0, 0)  # (steps, skips) at the last check
        self._min_scale = None
        self._emptied = []  # keys of batch logs emptied after a rollback (this epoch)

    def _config_value(self, key, default):
        return getattr(self._config, key, default)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        guard = self.model.guard_state
        self._seen = (int(guard.step.numpy()), int(guard.scale_skips.numpy()))
        self._skips_before = self._seen[1]
        # Unchecked steps (`guard(check='snapshot')`), counted by the host across epochs: all,
        # at the last snapshot, at the last rollback; and this epoch's.
        self._total = self._snapped = self._rolled_back = self._epoch_steps = 0
        self._synced = 0  # of `_total`, added to the guard's step count (unchecked steps)
        self._ran_unchecked = self._snapping = self._fresh = False
        if getattr(guard, "snap_fn", None) is not None:
            guard.step_base.assign(guard.step)  # Keras's step counter restarts at 0 now

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch_steps = 0
        self._emptied = []

    def on_epoch_end(self, epoch, logs=None):
        self._count_cut_call()
        if logs is not None:
            logs.pop(VERDICT, None)  # a copy of the last call's logs (a callback took numpy)
        if logs is not None and self._ran_unchecked and self._rolled_back == self._total:
            # A rollback after the epoch's last call: no step of the epoch is in its metrics
            # (the keys that call's batch logs held, emptied then: they are Keras's own dict).
            for key in [*self._emptied, *logs]:
                if not key.startswith("val_"):
                    logs[key] = float("nan")
        super().on_epoch_end(epoch, logs)  # checks and snapshots the weights (`_check`)
        self._snapped = self._total

    def on_test_begin(self, logs=None):
        # Validation inside fit runs before the epoch-end check: check first, so it never
        # evaluates weights an overflowing update left non-finite since the last check.
        self._count_cut_call()
        if self.report["status"] == "running":
            self._check()

    def _count_cut_call(self) -> None:
        """Unchecked steps: a call that ran out of data (`steps_per_epoch` above the data) ran
        some of its steps but had no end to count them; Keras's step counter for this fit has
        them (read only when the epoch ended short)."""
        epoch, counter = self.params.get("steps"), self.model.guard_state.counter
        if epoch and self._epoch_steps < epoch and self._unchecked():
            missed = int(counter.numpy()) - self._total
            if missed > 0:
                self._total += missed
                self._epoch_steps += missed

    def on_train_batch_begin(self, batch, logs=None):
        # Unchecked steps: the call after which a snapshot is due (`snapshot_every` steps
        # since the last, or the epoch's end) runs the train function that brings the guard's
        # step count up to date and snapshots after its steps (`_AnyState.snapshot_after`).
        self._fresh = False  # until this call ends with its snapshot (it may run out of data)
        state = self.model.guard_state
        if getattr(state, "snap_fn", None) is None or not self._unchecked():
            return
        epoch, per_call = self.params.get("steps"), state.per_call
        steps = min(per_call, epoch - batch) if epoch else per_call
        last = self._alone and bool(epoch) and batch + steps >= epoch
        self._snapping = last or self._total + steps - self._snapped >= self.snapshot_every
        function = state.snap_fn if self._snapping else state.plain_fn
        if self.model.train_function is not function:
            # Past Keras's tracking `__setattr__` (about 0.2 ms); Keras's saving ignores the
            # train function, and `on_train_end` puts back the one Keras made.
            object.__setattr__(self.model, "train_function", function)

    def _unchecked(self) -> bool:
        model = self.model
        return not getattr(model, "_nanguard_every_step", True) and model.guard_state.unchecked

    def on_train_batch_end(self, batch, logs=None):
        self._total += batch + 1 - self._epoch_steps
        self._epoch_steps = batch + 1
        verdict = logs.pop(VERDICT, None) if logs else None  # before any other callback
        self._fresh = False
        if not self._unchecked():
            super().on_train_batch_end(batch, logs)
            return
        # Unchecked steps: after every call the host reads the running loss in the logs, as
        # TerminateOnNaN does (a NaN or Inf there is an event), and every `snapshot_every`
        # steps, counted across epochs, and at each epoch's end, the weights are checked and
        # snapshotted: in the call (`on_train_batch_begin`), else here.
        self._ran_unchecked = True
        snapped, self._snapping = self._snapping and verdict is not None, False
        if snapped:
            self._synced = self._total  # the call counted its steps
        guard = self.model.guard_state
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._sync_steps()
            # The event: its step is the call's last (Keras's loss is a running mean).
            guard.first_bad_step.assign(guard.step - 1)
            guard.bad_steps.assign(1)
            self._check(in_step=True)
        elif snapped:
            if int(verdict) == 0:
                self._snapped = self._total  # the call's snapshot
                self._fresh = self._alone  # and no callback can have written since
                return
            # No snapshot in the call (a non-finite weight: an event; or a loss not finite in
            # float32): the host's check decides.
            self._check()
        elif self._total - self._snapped >= self.snapshot_every:
            self._check()
        else:
            return
        self._snapped = self._total
        if logs and self._rolled_back == self._total:
            # They averaged a step that was rolled back (a later TerminateOnNaN would stop).
            self._emptied = list(logs)
            logs.clear()

    def _sync_steps(self) -> None:
        """Brings the guard's step count to the steps run: adds the unchecked steps since the
        last sync (a checked step counts itself in graph, and so does a snapshotting call;
        Keras's own step does not)."""
        behind = self._total - self._synced
        if behind > 0 and self._unchecked():
            self.model.guard_state.step.assign_add(behind)
        self._synced = self._total

    def _check(self, final: bool = False, in_step: bool = False) -> None:
        if self._fresh and not final:
            return  # the last call checked and snapshotted these very weights
        self._sync_steps()  # before the snapshot records its step, or an event reads it
        super()._check(final, in_step)

    def _extra_check(self) -> str | None:
        optimizer = self.model.optimizer
        if not _is_lso(optimizer):
            return None
        guard = self.model.guard_state
        steps, skips = int(guard.step.numpy()), int(guard.scale_skips.numpy())
        new_steps, new_skips = steps - self._seen[0], skips - self._seen[1]
        self._seen = (steps, skips)
        scale = float(optimizer.loss_scale)
        self._min_scale = scale if self._min_scale is None else min(self._min_scale, scale)
        if scale <= self.min_loss_scale:
            logging.warning("nanguard: loss scale collapsed to %s", scale)
            return "loss_scale_collapsed"
        if new_steps and new_skips / new_steps > self.max_skip_rate:
            logging.warning(
                "nanguard: %s of %s steps skipped by the loss scaler", new_skips, new_steps
            )
            return "loss_scale_skip_rate"
        return None

    def _handle_event(self, final: bool, reason: str = "nonfinite_step") -> None:
        model = self.model
        unchecked = self._unchecked()
        if unchecked:
            for metric in model.metrics:  # Keras's running metrics averaged the fault in
                metric.reset_state()
            # From now on every step is checked, so the next fault is diagnosed with its batch.
            model._nanguard_every_step = True
            self.report["check"] = "step"
            self.report["every_step_from"] = int(model.guard_state.step.numpy())
            self._rolled_back = self._total
        ended = True
        try:
            super()._handle_event(final, reason)
            ended = final or model.stop_training
        finally:
            guard = model.guard_state
            self._seen = (int(guard.step.numpy()), int(guard.scale_skips.numpy()))
            if unchecked and ended:
                model.train_function = None  # the next fit traces the checked step
            elif unchecked:
                self._retrace()

    def _retrace(self) -> None:
        """Traces the checked train function, running as many steps per call as before: for an
        epoch's last, shorter call Keras lowers `_steps_per_execution` meanwhile, and at 1 it
        would trace a one-step function."""
        model = self.model
        steps = getattr(model, "_steps_per_execution", None)
        now = None if steps is None else steps.numpy().item()
        if steps is not None:
            steps.assign(model.guard_state.per_call)
        try:
            model.make_train_function(force=True)
        finally:
            if steps is not None:
                steps.assign(now)

    def on_train_end(self, logs=None):
        if logs is not None:
            logs.pop(VERDICT, None)  # Keras's own copy when a callback took numpy batch logs
        state = self.model.guard_state
        if getattr(state, "snap_fn", None) and self.model.train_function is state.snap_fn:
            object.__setattr__(self.model, "train_function", state.plain_fn)  # Keras's own
        super().on_train_end(logs)
        self.report["check"] = "snapshot" if self._unchecked() else "step"
        if self._ran_unchecked:  # unchecked steps count neither examples nor gradient norms
            self.report["examples"] = None
            if self.report["check"] == "snapshot":
                self.report["max_grad_norm"] = None
        optimizer = self.model.optimizer
        if not _is_lso(optimizer):
            return
        skips = int(self.model.guard_state.scale_skips.numpy()) - self._skips_before
        self.report["loss_scale_skips"] = skips
        self.report["loss_scale_skip_rate"] = json_float(skips / max(1, self.report["steps"]))
        self.report["final_loss_scale"] = json_float(float(optimizer.loss_scale))
        if self._min_scale is not None:
            self.report["min_loss_scale_seen"] = json_float(self._min_scale)
