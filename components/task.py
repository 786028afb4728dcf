"""The learning task from the label: classification or regression, decided once per run.

Light (pyarrow and numpy only): `nanguard run` and `nanguard compile` call it before the
pipeline is built, and every component is then told the same answer.

The rule of `task: auto` (`infer_task`), on the label's values as CsvExampleGen types them
(`csv_types.example_gen_types`), nulls ignored, NaN and +/-Inf ignored (the trainer drops those
rows):

- text (string or binary) or boolean values: classification (binary or multi-class), whatever
  the values (`yes`/`no`, `cat`/`dog`, `"3"`);
- integer values: classification when they take at most `MAX_CLASSES` (20) distinct values
  and, beyond two values, each is seen `MIN_ROWS_PER_CLASS` (3) times on average (0/1,
  ratings 1..5); else regression (counts, prices in cents, or scikit-learn's linnerud
  `Jumps`: 17 values in 20 rows, a quantity with too few rows to look like classes);
- float values: regression, unless every value is a whole number and they pass the integer
  rule (a 0/1 or 1..5 column written as `1.0`, as pandas writes an integer column with
  gaps): classification;
- no value at all: not decidable; an InputError asks for `task:`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.errors import InputError

AUTO, CLASSIFICATION, REGRESSION = "auto", "classification", "regression"
TASKS = (AUTO, CLASSIFICATION, REGRESSION)
MAX_CLASSES = 20  # at most this many distinct integer values: classes, not a quantity
MIN_ROWS_PER_CLASS = 3  # labelled rows per distinct value, on average, for classes


def _as_arrow(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    if isinstance(column, pa.Array):
        return column
    values = np.asarray(column)
    if values.dtype == object:
        return pa.array(values.tolist())
    return pa.array(values, from_pandas=True)  # a float NaN becomes a null: ignored either way


def label_kind(column: Any) -> str:
    """'text', 'integer', 'float' or 'empty' (no value besides nulls, NaN and Inf)."""
    values = pc.drop_null(_as_arrow(column))
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        return "text" if len(values) else "empty"
    if pa.types.is_boolean(kind):
        return "text" if len(values) else "empty"
    if pa.types.is_integer(kind):
        return "integer" if len(values) else "empty"
    if pa.types.is_floating(kind):
        return "float" if len(pc.filter(values, pc.is_finite(values))) else "empty"
    if pa.types.is_null(kind):
        return "empty"
    raise InputError(f"the label has values of type {kind}; expected text or numbers")


def _values(column: Any) -> pa.Array:
    """The values besides nulls, NaN and +/-Inf."""
    values = pc.drop_null(_as_arrow(column))
    if pa.types.is_floating(values.type):
        values = pc.filter(values, pc.is_finite(values))
    return values


def distinct_values(column: Any) -> int:
    """Distinct values besides nulls, NaN and +/-Inf."""
    return len(pc.unique(_values(column)))


def infer_task(column: Any, label: str = "the label") -> str:
    """'classification' or 'regression' for the label's values (the module's rule).

    Args:
      column: The label's values as CsvExampleGen types them (a pyarrow Array or ChunkedArray,
        a numpy array or a list): strings, integers or floats, nulls for missing cells.
      label: The label's name, for the message.

    Raises:
      InputError: the label has no value at all (nulls, NaN, Inf only); names `task:`.
    """
    kind = label_kind(column)
    if kind == "empty":
        raise InputError(
            f"label {label!r} has no value (only empty cells, NaN or Inf): its task cannot be "
            "inferred; fill the label, or set `task: classification` or `task: regression` "
            "in --config"
        )
    if kind == "text":
        return CLASSIFICATION
    values = _values(column)
    distinct = len(pc.unique(values))
    few = distinct <= MAX_CLASSES and (
        distinct <= 2 or len(values) >= MIN_ROWS_PER_CLASS * distinct
    )
    if kind == "integer":
        return CLASSIFICATION if few else REGRESSION
    numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)
    whole = bool(np.all(numbers == np.round(numbers)))
    return CLASSIFICATION if few and whole else REGRESSION


def classes_note(column: Any, label: str = "the label") -> str | None:
    """For `task: auto` that read a numeric label as classes: a note naming the key that
    predicts it as a number instead; None for a text label, a regression, or a label of two
    values (a 0/1 flag is classes; predicting it as a number is no advice)."""
    if label_kind(column) not in ("integer", "float") or infer_task(column) != CLASSIFICATION:
        return None
    distinct = distinct_values(column)
    if distinct <= 2:
        return None
    return (
        f"label {label!r} holds {distinct} distinct whole numbers: read as classes "
        "(classification); set `task: regression` in --config to predict it as a number"
    )


def decide_task(task: str, column: Any, label: str = "the label") -> str:
    """The task to run: `task` if it is not 'auto', else `infer_task(column)`.

    Raises:
      InputError: `task: regression` on a text label (names the label and the key), an
        undecidable `auto` (see `infer_task`), or a label of one value in every labelled row
        (a classifier of one class fails in training; a regression has nothing to learn).
    """
    if task not in TASKS:
        raise InputError(f"task: {task!r} is not allowed; use one of {list(TASKS)}")
    if task == AUTO:
        task = infer_task(column, label)
    elif task == REGRESSION and label_kind(column) == "text":
        raise InputError(
            f"task: regression needs a numeric label, and {label!r} holds text; set "
            "`task: classification` (or auto) in --config, or pass a numeric --label"
        )
    values = pc.unique(_values(column))
    if len(values) == 1:
        value = values[0].as_py()  # a float32 label: 0.1, not 0.10000000149011612
        shown = f"{value:.7g}" if isinstance(value, float) else repr(value)
        raise InputError(
            f"label {label!r} holds one value, {shown}, in every labelled row: "
            f"a {task} has nothing to learn; pass another --label, or add rows with other values"
        )
    return task


def task_from_schema_type(type_name: str) -> str | None:
    """The task a schema's label type implies, or None when only the values can tell.

    BYTES (text) is classification; INT and FLOAT depend on the values (see `infer_task`).
    """
    return CLASSIFICATION if type_name == "BYTES" else None
