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
