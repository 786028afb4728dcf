"""The words every nanguard module shares, spelled once: exit codes, policies, "no label", JSON.

Imports nothing heavy (no TensorFlow, Beam, TFDV or TFMA), so the command line can use it before
it decides whether a command has any work to do.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Exit codes of every `nanguard` subcommand.
EXIT_OK = 0  # the command finished (`run`: a model was pushed; `scan --check`: data passes)
EXIT_ERROR = 1  # anything unexpected: a bug or an environment problem; the log has the details
EXIT_USAGE = 2  # bad input: a flag, file, column or config key; the message names it
EXIT_BLOCKED = 3  # a guard blocked: nothing was pushed (or `--check` failed); the message says why

# The file the transform writes next to its graph (`components/transform_record.py`): what it
# learned per feature; the trainer reads the label's entry from it.
TRANSFORM_RECORD_FILENAME = "nanguard_transform_record.json"

# The one "no label" value, for every component parameter that names the label feature.
NO_LABEL = ""
# How every nanguard component is told the label and the task: exec properties (DataGuard,
# HardenSchema, FinitePredictionGate) and custom_config keys (Transform, Trainer) of these names.
LABEL_KEY = "label_key"
TASK_KEY = "task"

# What +/-Inf in a feature means to the data guard; the transform repairs what the guard let
# through (`treat_as_missing` -> imputed, `clip` -> clipped to the finite training range).
INF_POLICIES = ("fail", "treat_as_missing", "clip")
TRANSFORM_INF_POLICIES = ("treat_as_missing", "clip")
# Rows whose label is missing, NaN or Inf (`data_guard.unlabelled_rows`): left out of training
# and evaluation (`drop`, counted per split), or a violation (`block`).
UNLABELLED_ROWS_POLICIES = ("drop", "block")
# A feature with no value in any training row (`data_guard.all_missing`): a violation (`block`),
# or left out of the model (`exclude`: the pipeline adds it to `transform.exclude`).
ALL_MISSING_POLICIES = ("block", "exclude")
GUARD_MODES = ("fail", "warn")

# Non-finite floats in nanguard's JSON files: strict JSON has no NaN or Infinity number, so they
# are written as these strings (the spellings of JavaScript and of Python's own `json` module).
NAN, POS_INF, NEG_INF = "NaN", "Infinity", "-Infinity"
_NON_FINITE = {NAN: math.nan, POS_INF: math.inf, NEG_INF: -math.inf}


def jsonable(value: Any) -> Any:
    """A strict-JSON view of `value`: NaN -> "NaN", +Inf -> "Infinity", -Inf -> "-Infinity".

    Numpy scalars and arrays become Python numbers and lists, tuples become lists, bytes are
    decoded as UTF-8 (invalid bytes replaced), mapping keys become strings.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return NAN if math.isnan(value) else (POS_INF if value > 0 else NEG_INF)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return jsonable(value.tolist())
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """`json.dumps` of `jsonable(value)`; never writes a bare NaN or Infinity token."""
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def as_float(value: Any) -> Any:
    """Reads back one value written by `jsonable`: "NaN"/"Infinity"/"-Infinity" -> float."""
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value
