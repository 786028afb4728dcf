"""components/inputs.py: the one CSV reader (Arrow) and CsvExampleGen's column types."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tfx_bsl.coders import csv_decoder

from nanguard.components import inputs
from nanguard.components.errors import InputError


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
    typed = inputs.example_gen_types(inputs.read_csv(str(path)))
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


def test_header_only_files_read_empty_only_when_allowed(tmp_path):
    with_break, without = tmp_path / "a.csv", tmp_path / "b.csv"
    with_break.write_text("x,y\n")
    without.write_text("x,y")
    assert inputs.read_header(str(without)) == ["x", "y"]
    for path in (with_break, without):
        with pytest.raises(InputError, match="no data rows"):
            inputs.read_csv(str(path))
        table = inputs.read_csv_files([str(path)], allow_empty=True)
        assert (table.num_rows, table.column_names) == (0, ["x", "y"])
    data = tmp_path / "c.csv"
    data.write_text("x,y\n1,2\n")
    table = inputs.read_csv_files([str(without), str(data)], allow_empty=True)
    assert table.num_rows == 1 and table.column("x").to_pylist() == ["1"]


def test_utf8_across_64_kib_and_quoted_newlines(tmp_path):
    path = tmp_path / "u.csv"
    text = "a,b\n" + "1,x\n" * 16383 + '2,"é\nz"\n'
    path.write_text(text, encoding="utf-8")
    table = inputs.read_csv(str(path))
    assert table.num_rows == 16384 and table.column("b").to_pylist()[-1] == "é\nz"


def _whole_table(path, names):
    typed = inputs.example_gen_types(inputs.read_csv(str(path)))
    return {name: typed.column(name).to_pylist() for name in names}


def _streamed(path, names, kinds=None):
    batches = list(inputs.example_gen_batches([str(path)], names, kinds, block_size=64))
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
    with pytest.raises(inputs.TypesWidened):
        list(inputs.example_gen_batches([str(path)], ["x", "y"], block_size=64))
    kinds = inputs.example_gen_kinds([str(path)], ["x", "y"], block_size=64)
    assert kinds == {"x": kind, "y": "int"}
    _, streamed = _streamed(path, ["x", "y"], kinds)
    assert streamed == _whole_table(path, ["x", "y"])


def test_huge_and_inf_in_a_float_column_do_not_widen(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("x\n" + "1.5\n" * 80 + "1e30\n-inf\n9223372036854775807\n-1e300\n")
    _, streamed = _streamed(path, ["x"])
    assert streamed == _whole_table(path, ["x"])
    assert streamed["x"][-4:] == [np.float32(1e30), -np.inf, np.float32(2**63), -np.inf]


def test_csv_text_batches_name_the_file_of_a_ragged_row(tmp_path):
    good, bad = tmp_path / "a.csv", tmp_path / "b.csv"
    good.write_text("x,y\n1,2\n")
    bad.write_text("x,y\n" + "1,2\n" * 300_000 + "3,4,5\n")  # past the block read_header reads
    assert inputs.csv_header([str(good), str(bad)]) == ["x", "y"]
    with pytest.raises(InputError, match=str(bad)):
        list(inputs.csv_text_batches([str(good), str(bad)], ["x", "y"]))
    other = tmp_path / "c.csv"
    other.write_text("x,z\n1,2\n")
    with pytest.raises(InputError, match="differs"):
        inputs.csv_header([str(good), str(other)])


def test_numpy_views_and_arrays_without_pandas():
    values = np.array([1.5, np.nan, -np.inf, 7.0])
    array = inputs.from_numpy(values)
    assert array.type == pa.float64() and array.null_count == 0
    np.testing.assert_array_equal(inputs.as_numpy(array), values)
    with_nulls = pa.array([1.0, None, 3.0], pa.float32()).slice(1)
    view = inputs.as_numpy(with_nulls)
    assert view.dtype == np.float32 and view.tolist() == [3.0]
    assert inputs.as_numpy(pa.array([5, 6], pa.int64()).slice(1)).tolist() == [6]
    assert inputs.widest_kinds([{"a": "int", "b": "null"}, {"a": "float", "b": "string"}]) == {
        "a": "float",
        "b": "string",
    }


def test_gzip_files_and_folders_read_as_the_plain_text(tmp_path):
    import gzip

    text = "a,b\n1,x\n?,y\n2,\n"
    (tmp_path / "p.csv").write_text(text)
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"not data"))
    assert [p.rsplit("/", 1)[1] for p in inputs.csv_files(str(tmp_path))] == ["p.csv", "p.csv.gz"]
    plain = inputs.read_csv(str(tmp_path / "p.csv"))
    assert plain.column("a").to_pylist() == ["1", None, "2"]
    assert inputs.read_csv(str(tmp_path / "p.csv.gz")).equals(plain)
    assert inputs.read_csv(str(tmp_path)).num_rows == 6
    batches = list(inputs.csv_text_batches([str(tmp_path / "p.csv.gz")], ["a", "b"]))
    assert pa.Table.from_batches(batches).equals(plain)
    header_only = tmp_path / "h.csv.gz"
    header_only.write_bytes(gzip.compress(b"a,b"))
    assert inputs.read_header(str(header_only)) == ["a", "b"]
    with pytest.raises(InputError, match="no data rows"):
        inputs.read_csv(str(header_only))


def test_bad_header_names_are_header_errors_naming_the_position(tmp_path):
    for header, words in (("a,b,a", "columns 1 and 3 are both named 'a'"), ("a,,c", "column 2")):
        path = tmp_path / "h.csv"
        path.write_text(f"{header}\n1,2,3\n")
        with pytest.raises(inputs.HeaderError, match=words):
            inputs.read_header(str(path))
        with pytest.raises(inputs.HeaderError, match=words):
            inputs.read_csv(str(path))


def test_missing_spellings_and_strays_as_missing_while_streaming(tmp_path):
    """`missing` replaces the null spellings; `as_missing` nulls the non-numbers of a column,
    batch by batch, and the column is typed as the numbers it then holds."""
    rows = [f"{i}.5,{i}" for i in range(60)] + ["abc,-999", "n.d.,7", "?,?"]
    path = tmp_path / "s.csv"
    path.write_text("x,n\n" + "\n".join(rows) + "\n")
    names = ["x", "n"]
    missing = (*inputs.MISSING_TOKENS, "-999")
    kinds = inputs.example_gen_kinds([str(path)], names, 64, missing=missing, as_missing=["x"])
    assert kinds == {"x": "float", "n": "int"}
    assert inputs.example_gen_kinds([str(path)], names, 64) == {"x": "string", "n": "int"}
    batches = list(
        inputs.example_gen_batches([str(path)], names, kinds, 64, missing, as_missing=["x"])
    )
    assert len(batches) > 3
    x = sum((b.column("x").to_pylist() for b in batches), [])
    n = sum((b.column("n").to_pylist() for b in batches), [])
    assert x == [i + 0.5 for i in range(60)] + [None, None, None]
    assert n == list(range(60)) + [None, 7, None]
