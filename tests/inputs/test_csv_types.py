"""components/csv_types.py: CsvExampleGen's column types, whole-table and streamed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tfx_bsl.coders import csv_decoder

from nanguard.components import csv_types, inputs


def _tfx_bsl_types(lines: list[str], names: list[str]) -> dict[str, str]:
    """The reference: the column types tfx-bsl's CSV decoder (CsvExampleGen's) infers.

    Its own ColumnTypeInferrer (the CombineFn CSVToRecordBatch runs), called in-process.
    """
    inferrer = csv_decoder.ColumnTypeInferrer(column_names=names, skip_blank_lines=True)
    acc = inferrer.create_accumulator()
    for line in lines:
        acc = inferrer.add_input(acc, [cell.encode() for cell in line.split(",")])
    kinds = {csv_decoder.ColumnType.INT: "int", csv_decoder.ColumnType.FLOAT: "float"}
    return {
        info.name: kinds.get(info.type, "string" if info.type > 0 else "null")
        for info in inferrer.extract_output(acc)
    }


def test_example_gen_types_match_tfx_bsl(tmp_path):
    names = ["i", "f", "tokens", "big", "s", "spaced", "e"]
    rows = [
        ["1", "1.5", "nan", "99999999999999999999", "a", " 7", ""],
        ["-2", "3", "-Infinity", "1", "b", "8", ""],
        ["", "1e39", "inf", "2", "", "9", ""],
    ]
    lines = [",".join(r) for r in rows]
    path = tmp_path / "t.csv"
    path.write_text(",".join(names) + "\n" + "\n".join(lines) + "\n")
    typed = csv_types.example_gen_types(inputs.read_csv(str(path)))
    reference = _tfx_bsl_types(lines, names)
    assert reference == {
        "i": "int",
        "f": "float",
        "tokens": "float",
        "big": "string",  # beyond int64
        "s": "string",
        "spaced": "int",
        "e": "null",
    }
    arrow_kind = {pa.int64(): "int", pa.float32(): "float", pa.string(): "string"}
    got = {name: arrow_kind.get(typed.column(name).type, "null") for name in names}
    assert got == reference
    f = typed.column("f").to_numpy()
    assert f[0] == np.float32(1.5) and np.isposinf(f[2])  # 1e39 overflows float32, as in tf.Example
    tokens = typed.column("tokens").to_pylist()
    assert np.isnan(tokens[0]) and tokens[1:] == [-np.inf, np.inf]
    assert typed.column("i").to_pylist() == [1, -2, None]
    assert typed.column("spaced").to_pylist() == [7, 8, 9]


def _whole_table(path, names):
    typed = csv_types.example_gen_types(inputs.read_csv(str(path)))
    return {name: typed.column(name).to_pylist() for name in names}


def _streamed(path, names, kinds=None):
    batches = list(csv_types.example_gen_batches([str(path)], names, kinds, block_size=64))
    assert len(batches) > 3  # small blocks: the types must hold across batches
    return batches, {name: sum((b.column(name).to_pylist() for b in batches), []) for name in names}


def test_streamed_batches_equal_the_whole_table_types(tmp_path):
    """Same types and values as example_gen_types over all rows, one ~64-byte batch at a time."""
    names = ["i", "f", "tokens", "late", "s"]
    rows = [["1", "1.5", "nan", "", "a"], ["-2", "1e39", "-Infinity", "", "b"]] * 20
    rows += [["3", "7", "inf", "2.5", ""]] * 5  # 'late': no value until here ('null' widens)
    path = tmp_path / "t.csv"
    path.write_text(",".join(names) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    batches, streamed = _streamed(path, names)
    want = _whole_table(path, names)
    assert {n: v for n, v in streamed.items() if n != "tokens"} == {
        n: v for n, v in want.items() if n != "tokens"
    }
    np.testing.assert_array_equal(streamed["tokens"], want["tokens"])  # NaN == NaN here
    assert batches[-1].schema.field("f").type == pa.float32()
    assert batches[-1].schema.field("i").type == pa.int64()
    assert batches[0].schema.field("late").type == pa.null()  # no value yet
    assert batches[-1].schema.field("late").type == pa.float32()


@pytest.mark.parametrize(
    "late_cell, kind",
    [("2.5", "float"), ("abc", "string"), ("99999999999999999999", "string")],
)
def test_a_type_that_widens_late_raises_then_the_kinds_of_all_rows_read_exactly(
    tmp_path, late_cell, kind
):
    """An int column with a float late, a number with a string late, a float column with an
    integer beyond int64 late (tfx-bsl: STRING): the first pass cannot have typed it."""
    first = "1" if kind != "string" or late_cell == "abc" else "1.5"
    rows = [first] * 40 + [late_cell] + ["1e30", "inf"] * (late_cell != "abc" and kind == "string")
    path = tmp_path / "w.csv"
    path.write_text("x,y\n" + "\n".join(f"{c},{i}" for i, c in enumerate(rows)) + "\n")
    with pytest.raises(csv_types.TypesWidened):
        list(csv_types.example_gen_batches([str(path)], ["x", "y"], block_size=64))
    kinds = csv_types.example_gen_kinds([str(path)], ["x", "y"], block_size=64)
    assert kinds == {"x": kind, "y": "int"}
    _, streamed = _streamed(path, ["x", "y"], kinds)
    assert streamed == _whole_table(path, ["x", "y"])


def test_huge_and_inf_in_a_float_column_do_not_widen(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("x\n" + "1.5\n" * 80 + "1e30\n-inf\n9223372036854775807\n-1e300\n")
    _, streamed = _streamed(path, ["x"])
    assert streamed == _whole_table(path, ["x"])
    assert streamed["x"][-4:] == [np.float32(1e30), -np.inf, np.float32(2**63), -np.inf]


def test_missing_spellings_and_strays_as_missing_while_streaming(tmp_path):
    """`missing` replaces the null spellings; `as_missing` nulls the non-numbers of a column,
    batch by batch, and the column is typed as the numbers it then holds."""
    rows = [f"{i}.5,{i}" for i in range(60)] + ["abc,-999", "n.d.,7", "?,?"]
    path = tmp_path / "s.csv"
    path.write_text("x,n\n" + "\n".join(rows) + "\n")
    names = ["x", "n"]
    missing = (*inputs.MISSING_TOKENS, "-999")
    kinds = csv_types.example_gen_kinds([str(path)], names, 64, missing=missing, as_missing=["x"])
    assert kinds == {"x": "float", "n": "int"}
    assert csv_types.example_gen_kinds([str(path)], names, 64) == {"x": "string", "n": "int"}
    batches = list(
        csv_types.example_gen_batches([str(path)], names, kinds, 64, missing, as_missing=["x"])
    )
    assert len(batches) > 3
    x = sum((b.column("x").to_pylist() for b in batches), [])
    n = sum((b.column("n").to_pylist() for b in batches), [])
    assert x == [i + 0.5 for i in range(60)] + [None, None, None]
    assert n == list(range(60)) + [None, 7, None]
