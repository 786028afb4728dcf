"""The command of every compiled task: TFX's Kubeflow V2 container entrypoint, with two fixes.

`python -m nanguard.pipelines.entrypoint --executor_class_path ... --json_serialized_invocation_args
'{{$}}' [...]` runs TFX's own `kubeflow_v2_run_executor` (same flags, same ExecutorInput, same
ExecutorOutput file), and:

1. A guard that blocks (`GuardBlockedError` anywhere in the error's chain) ends the task with
   exit code 3 (`vocab.EXIT_BLOCKED`) instead of absl's exit 1 with a bare traceback. The
   traceback is logged first; then stderr gets ONE line naming the guard and the reason
   (`BLOCKED by DataGuard (data): ...`), then the detail, one violation per line. The same text
   goes to the Kubernetes termination-message file (`/dev/termination-log`, or the file named
   by `NANGUARD_TERMINATION_LOG`), which Kubeflow shows as the task's message. Any other error
   keeps TFX's behaviour (traceback, exit 1).
2. Every ModelBlessing output names its model by artifact name in `current_model_id` (and
   `baseline_model_id`), as TFX does only for Evaluator subclasses (`refactor_model_blessing`):
   FinitePredictionGate's blessing, like the Evaluator's, then points at the model's artifact
   (`projects/.../artifacts/N` on Vertex), which is what a LatestBlessedModel query there reads.
   In the ExecutorInput the artifact's id is a hash of that name; the name is restored from it.
"""

from __future__ import annotations

import contextlib
import os
import sys

from nanguard.components import vocab
from nanguard.components.errors import GuardBlockedError, guard_block

TERMINATION_LOG_ENV = "NANGUARD_TERMINATION_LOG"
KUBERNETES_TERMINATION_LOG = "/dev/termination-log"

# The guard each nanguard executor is, for a block that carries no Violation records.
_GUARDS = {
    "nanguard.components.data_guard.": ("DataGuard", "data"),
    "nanguard.components.gate.": ("FinitePredictionGate", ""),
    "nanguard.components.transform.": ("Transform", "data"),
    "tfx.components.trainer.": ("Trainer", "training"),  # nanguard's run_fn raises in it
}
_MODEL_ID_KEYS = ("current_model_id", "baseline_model_id")  # tfx evaluator constants


def block_lines(error: GuardBlockedError, executor_class_path: str) -> list[str]:
    """What a blocked task prints: one line naming the guard and reason, then the detail.

    The guard and reason come from the first Violation (`error.violations`); without records,
    from the executor that raised (`_GUARDS`) and the message's first line. NaN and Inf values
    in the records are shown as `Violation.line()` shows them.
    """
    violations = list(error.violations)
    message_lines = [line for line in str(error).splitlines() if line.strip()]
    if violations:
        guard, reason = violations[0].guard, violations[0].reason
        summary = violations[0].message
        detail = [f"  - {v.line()}" for v in violations]
    else:
        guard, reason = next(
            (g for prefix, g in _GUARDS.items() if executor_class_path.startswith(prefix)),
            (executor_class_path.rsplit(".", 2)[0].rsplit(".", 1)[-1], ""),
        )
        summary = message_lines[0] if message_lines else "the guard refused the run"
        detail = [f"  {line}" for line in message_lines[1:]]
    head = f"BLOCKED by {guard}" + (f" ({reason})" if reason else "") + f": {summary}"
    return [head, *detail, f"  exit code {vocab.EXIT_BLOCKED}: nothing downstream of it runs"]


def _write_termination_message(lines: list[str]) -> None:
    path = os.environ.get(TERMINATION_LOG_ENV) or KUBERNETES_TERMINATION_LOG
    if path == KUBERNETES_TERMINATION_LOG and not os.path.exists(path):
        return  # not on Kubernetes
    try:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    except OSError:
        pass  # the message is on stderr too


def name_blessed_models(outputs: dict, name_from_id: dict) -> None:
    """Sets each ModelBlessing's int `current_model_id`/`baseline_model_id` to the artifact name.

    `name_from_id` maps the ids TFX's entrypoint derived from artifact names back to the names.
    An id not in it (not an input of this task) and a property already a string are left alone.
    """
    for artifacts in outputs.values():
        for artifact in artifacts:
            if artifact.type_name != "ModelBlessing":
                continue
            properties = artifact.mlmd_artifact.custom_properties
            for key in _MODEL_ID_KEYS:
                value = properties[key] if key in properties else None
                if value is not None and value.WhichOneof("value") == "int_value":
                    if value.int_value in name_from_id:
                        artifact.set_string_custom_property(key, name_from_id[value.int_value])


@contextlib.contextmanager
def _blessings_name_their_model():
    """Runs `name_blessed_models` where TFX's entrypoint translates its outputs."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils

    translate = utils.translate_executor_output

    def translate_named(outputs, name_from_id):
        name_blessed_models(outputs, name_from_id)
        return translate(outputs, name_from_id)

    utils.translate_executor_output = translate_named
    try:
        yield
    finally:
        utils.translate_executor_output = translate


def run(args, beam_args: list[str]) -> int:
    """Runs one task as TFX's `kubeflow_v2_run_executor` does; returns its exit code."""
    from absl import logging
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    try:
        with _blessings_name_their_model():
            kubeflow_v2_run_executor._run_executor(args, beam_args)  # noqa: SLF001
    except Exception as e:
        blocked = guard_block(e)
        if blocked is None:
            raise
        logging.exception("The executor %s blocked the run.", args.executor_class_path)
        lines = block_lines(blocked, args.executor_class_path)
        sys.stderr.flush()
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        _write_termination_message(lines)
        return vocab.EXIT_BLOCKED
    return vocab.EXIT_OK


def _main(parsed) -> int:
    args, beam_args = parsed
    return run(args, beam_args)


if __name__ == "__main__":
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    app.run(_main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # noqa: SLF001
