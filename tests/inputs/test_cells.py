"""components/cells.py: missing spellings, numbers, the mostly-numeric rule, stray tokens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nanguard.components import cells


def _python_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_is_number_agrees_with_python_float_on_the_cells_real_files_hold():
    texts = ["1", "-2.5", "+3", " 7 ", "1e5", "1E-3", ".5", "5.", "nan", "NaN", "-nan", "inf"]
    texts += ["-inf", "Infinity", "-Infinity", "INF", "abc", "12,5", ">100", "1.2.3", "e5"]
    texts += ["?", "-", "1-2", "0x10", "", "2024-01-05", "true", "1 000"]
    got = cells.is_number(pa.array(texts)).to_pylist()
    assert got == [_python_float(t) for t in texts]
    assert cells.is_number(pa.array(["1", None])).to_pylist() == [True, None]


def test_missing_tokens_default_set_extension_and_pandas():
    assert cells.MISSING_TOKENS[:4] == ("", "NA", "null", "None")
    assert not any(_python_float(t) for t in cells.MISSING_TOKENS)  # NaN/Inf are not missing
    assert cells.missing_tokens(["-999", "NA", "."]) == (*cells.MISSING_TOKENS, "-999", ".")
    # pandas with exactly these spellings reads the same cells as missing.
    import io

    text = "x\n" + "\n".join(f'"{t}"' for t in cells.MISSING_TOKENS) + "\nnan\n1\n"
    frame = pd.read_csv(
        io.StringIO(text), na_values=list(cells.MISSING_TOKENS), keep_default_na=False
    )
    # 'nan' is not a missing spelling: pandas keeps it (as text here, the column being text).
    assert frame["x"].isna().tolist() == [True] * len(cells.MISSING_TOKENS) + [False, False]


@pytest.mark.parametrize(
    "numbers, non_missing, expected",
    [(90, 100, True), (89, 100, False), (100, 100, True), (0, 0, False), (9, 10, True)],
)
def test_mostly_numeric_rule(numbers, non_missing, expected):
    assert cells.is_mostly_numeric(numbers, non_missing) is expected


def test_stray_tokens_counts_and_the_schema_override():
    column = pa.array([*(str(i) for i in range(27)), "abc", None, "12,5", "abc", "nan"])
    # 28 numbers ('nan' included) of 31 non-missing cells: 90.3%, mostly numeric.
    assert cells.stray_tokens(column) == ({"abc": 2, "12,5": 1}, 3)
    assert cells.stray_tokens(column, numeric=False) == ({}, 0)
    words = pa.array(["a", "b", "1", "c"])
    assert cells.stray_tokens(words) == ({}, 0)  # 1 of 4: a text column
    assert cells.stray_tokens(words, numeric=True) == ({"a": 1, "b": 1, "c": 1}, 3)
    assert cells.stray_tokens(pa.array(["1", None, "2"])) == ({}, 0)
    nulled = cells.null_strays(pa.chunked_array([column]))
    assert nulled.to_pylist() == [*(str(i) for i in range(27)), None, None, None, None, "nan"]


def test_token_counts_sorts_in_arrow_and_names_at_most_the_limit():
    values = pa.array([f"t{i % 20}" for i in range(200)] + ["top"] * 30 + [None])
    counted = cells.token_counts(values)
    assert len(counted) == cells.MAX_NAMED_TOKENS and next(iter(counted.items())) == ("top", 30)
    reference = pd.Series(values.to_pylist()).value_counts()
    assert all(reference[token] == count for token, count in counted.items())
    assert len(cells.token_counts(values, limit=None)) == 21
    text = cells.describe_tokens(counted, total=230)
    assert text.startswith("'top' x30, 't0' x10") and text.endswith(" and 50 more cell(s)")


def _naive_read_missing(values: list, missing) -> tuple[list, dict]:
    found: dict = {}
    for v in values:
        if v is not None and v in missing:
            found[v] = found.get(v, 0) + 1
    ordered = dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))
    return [None if v in missing else v for v in values], ordered


def test_read_missing_agrees_with_a_plain_lookup_on_every_layout():
    """The length-and-first-byte prefilter never misses a spelling: negative numbers against
    '-', 'nan' against 'n/a', a number spelling ('-999'), a non-ASCII one, nulls, chunks."""
    rng = np.random.default_rng(3)
    pool = [
        "", " ", "-", "-1.5", "-999", "-9990", "nan", "n/a", "NA", "N/A", "#N/A", "NULL",
        "null", "None", "missing", "missings", "?", "??", "12", "0.5", "inconnu", "é", "ée",
        None,
    ]  # fmt: skip
    values = [pool[i] for i in rng.integers(0, len(pool), 5000)]
    for missing in (
        cells.MISSING_TOKENS,
        cells.missing_tokens(["-999", "é"]),
        ("-999", "NA"),  # no empty spelling: the first-byte path only
    ):
        want_values, want_found = _naive_read_missing(values, missing)
        for column in (
            pa.array(values, pa.string()),
            pa.array(values, pa.large_string()),
            pa.array(values, pa.string()).slice(0),
            pa.chunked_array([values[:1234], values[1234:]], pa.string()),
            pa.array([None, *values], pa.string()).slice(1),  # an offset: the plain lookup
        ):
            got, found = cells.read_missing(column, missing)
            assert got.to_pylist() == want_values
            assert found == want_found and list(found) == list(want_found)


def test_read_missing_counts_cells_already_null_as_the_null_spelling():
    column = pa.array(["1", None, "NA", None, "NA", "2", None, "?"])  # the reader nulled ''
    got, found = cells.read_missing(column, cells.MISSING_TOKENS, null_spelling="")
    assert got.to_pylist() == ["1", None, None, None, None, "2", None, None]
    assert found == {"": 3, "NA": 2, "?": 1} and list(found) == ["", "NA", "?"]
