"""components/csv_dialect.py through inputs: any CSV a spreadsheet writes, read as pandas reads it
when told the right separator, decimal mark and encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nanguard.components import cells, csv_types, inputs
from nanguard.components.csv_dialect import CsvDialect
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError


def _frame() -> pd.DataFrame:
    """A real-looking table: decimals, integers, gaps, non-ASCII text, a text cell with ', '."""
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "Gewicht (kg)": np.round(rng.normal(70, 12, n), 2),
            "Größe": np.round(rng.normal(1.72, 0.1, n), 3),
            "Alter": rng.integers(18, 90, n),
            "Ort": rng.choice(["Zürich", "Genève", "Malmö", "Bâle"], n),
            "Name": rng.choice(["Müller, Jürgen", "Dupont, Élise", "Smith"], n),
        }
    )
    frame.loc[[3, 17, 40], "Gewicht (kg)"] = np.nan
    frame.loc[[5, 6], "Ort"] = np.nan
    return frame


def _write(frame, path, sep, decimal, encoding, crlf=True):
    frame.to_csv(
        path, sep=sep, decimal=decimal, encoding=encoding, index=False, na_rep="NA",
        lineterminator="\r\n" if crlf else "\n",
    )  # fmt: skip
    return str(path)


def _check_equal(table, reference: pd.DataFrame):
    """The typed table holds pandas' values: floats (float32), ints, texts, missing cells."""
    typed = csv_types.example_gen_types(table)
    assert typed.column_names == list(reference.columns)
    for name in reference.columns:
        got = typed.column(name).to_pylist()
        want = reference[name]
        if want.dtype.kind == "f":
            np.testing.assert_allclose(
                np.array([np.nan if v is None else v for v in got], np.float64),
                want.to_numpy(np.float64),
                rtol=1e-6,
            )
        else:
            assert got == [None if pd.isna(v) else v for v in want.tolist()], name


@pytest.mark.parametrize(
    "sep, decimal, encoding",
    [
        (";", ",", "cp1252"),  # Excel, German locale, Windows: exited 2 before
        (";", ".", "utf-8"),  # read as ONE string column before, silently
        (",", ".", "cp1252"),  # Excel "CSV (Comma delimited)" on Windows: exited 2 before
        ("\t", ",", "latin-1"),
        ("|", ".", "utf-8-sig"),
        (" ", ".", "utf-8"),  # one space between cells (R's write.table, scikit-learn's linnerud)
    ],
)
def test_a_spreadsheet_export_reads_as_pandas_reads_it_told_the_dialect(
    tmp_path, sep, decimal, encoding
):
    path = _write(_frame(), tmp_path / "export.csv", sep, decimal, encoding)
    reference = pd.read_csv(path, sep=sep, decimal=decimal, encoding=encoding)
    table = inputs.read_csv(path)
    _check_equal(table, reference)
    found = inputs.dialect_of(path)
    assert (found.delimiter, found.decimal) == (sep, decimal)
    # latin-1 text decodes alike as cp1252 (the same letters above 0xA0): cp1252 is taken.
    assert found.encoding == {"utf-8-sig": "utf-8", "latin-1": "cp1252"}.get(encoding, encoding)
    assert csv_types.example_gen_types(table).column("Gewicht (kg)").null_count == 3
    # The streamed reader gives the same cells, batch by batch.
    batches = inputs.csv_text_batches([path], table.column_names, block_size=512)
    assert pa_table(batches).equals(table)


def pa_table(batches):
    import pyarrow as pa

    return pa.Table.from_batches(list(batches))


def test_decimal_commas_change_only_whole_number_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(
        "x;text;code\r\n12,5;Smith, John;1,2,3\r\n-0,25;a,b;7\r\n1,5e3;;x\r\nnan;inf;-inf\r\n"
        .encode("cp1252")
    )  # fmt: skip
    table = inputs.read_csv(str(path))
    assert table.column("x").to_pylist() == ["12.5", "-0.25", "1.5e3", "nan"]
    assert table.column("text").to_pylist() == ["Smith, John", "a,b", None, "inf"]
    assert table.column("code").to_pylist() == ["1,2,3", "7", "x", "-inf"]


def test_mixed_decimal_marks_keep_the_point_and_leave_commas_as_stray_strings(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("x;y\n" + "".join(f"{i}.5;{i}\n" for i in range(30)) + "12,5;1\n")
    assert inputs.dialect_of(str(path)).decimal == "."
    verdict = csv_types.find_strays(inputs.read_csv(str(path)))["x"]
    assert (verdict.count, verdict.tokens) == (1, {"12,5": 1})


def test_forced_keys_win_and_one_column_holding_semicolons_is_named(tmp_path):
    path = _write(_frame().drop(columns="Name"), tmp_path / "e.csv", ";", ".", "cp1252")
    forced = DataGuardConfig(csv_delimiter=",", csv_encoding="cp1252").dialect()
    table = inputs.read_csv(path, dialect=forced)
    assert table.num_columns == 1
    note = inputs.header_notes([path], forced)[-1]
    assert "ONE column" in note and "set data_guard.csv_delimiter: ';'" in note
    # Decimal commas make the rows ragged under ',': the error names the likely delimiter.
    commas = _write(_frame(), tmp_path / "c.csv", ";", ",", "cp1252")
    with pytest.raises(InputError, match="set data_guard.csv_delimiter: ';'"):
        inputs.read_csv(commas, dialect=forced)
    # Auto: the note says how the file was read.
    assert inputs.header_notes([commas]) == [
        f"{commas}: read as ';'-separated, decimal comma, cp1252"
    ]
    # A tab forced by its YAML spellings.
    for spelling in ("tab", "\\t", "\t"):
        assert CsvDialect(delimiter=spelling).delimiter == "\t"


def test_forced_utf8_on_a_cp1252_file_names_the_key(tmp_path):
    path = _write(_frame(), tmp_path / "w.csv", ",", ".", "cp1252")
    with pytest.raises(InputError, match="csv_encoding") as info:
        inputs.read_csv(path, dialect=CsvDialect(encoding="utf-8"))
    assert path in str(info.value)


def test_a_decimal_comma_with_a_comma_delimiter_is_refused_naming_the_keys():
    with pytest.raises(InputError, match="data_guard.csv_delimiter"):
        DataGuardConfig(csv_delimiter=",", csv_decimal=",").dialect()
    with pytest.raises(InputError, match="csv_delimiter"):
        DataGuardConfig.from_dict({"csv_delimiter": ":"})


def test_missing_spellings_are_counted_per_column_as_pandas_counts_them(tmp_path):
    path = tmp_path / "cars.csv"
    rows = ["None", "Driver only", "Driver & Passenger", "NA", "?", "None", ""] * 5
    sizes = ["1.5", "-", "2.0", "n/a", "3.1", "", "NA"] * 5
    path.write_text(
        "AirBags,size\n" + "".join(f"{a},{s}\n" for a, s in zip(rows, sizes, strict=True))
    )
    spellings: dict = {}
    table = inputs.read_csv(str(path), missing=cells.missing_tokens(), spellings=spellings)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for name in raw.columns:
        hit = raw[name][raw[name].isin(cells.missing_tokens())]
        assert spellings.get(name, {}) == hit.value_counts().to_dict(), name
        assert table.column(name).null_count == len(hit)
    # Defaults replaced: `None` (no airbags) stays a category; only '' and '?' are missing.
    config = DataGuardConfig(default_missing_tokens=False, missing_tokens=("?", "NA"))
    assert config.missing_values() == ("", "?", "NA")
    spellings = {}
    table = inputs.read_csv(str(path), missing=config.missing_values(), spellings=spellings)
    assert table.column("AirBags").to_pylist().count("None") == 10
    assert spellings["AirBags"] == {"NA": 5, "?": 5, "": 5}
    assert table.column("size").to_pylist().count("-") == 5


def test_a_large_cp1252_file_is_read_and_closed_in_seconds(tmp_path):
    """Arrow's own transcoding reader hung at close on a 13 MB cp1252 file (its read-ahead
    thread waits on the GIL): 12 MB must read header and batches, in a child process."""
    import subprocess
    import sys

    frame = pd.concat([_frame()] * 5000, ignore_index=True)  # 300,000 rows, ~12 MB
    path = _write(frame, tmp_path / "gross.csv", ";", ",", "cp1252")
    code = (
        "import sys; from nanguard.components import csv_types, inputs; "
        f"p = {path!r}; names = inputs.read_header(p); "
        "n = sum(b.num_rows for b in inputs.csv_text_batches([p], names, 1 << 18)); "
        "t = inputs.read_csv(p); print(len(names), n, t.num_rows)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "300000", "300000"]


def test_a_file_head_is_binary_exactly_when_it_holds_a_control_byte_text_does_not():
    from nanguard.components.csv_dialect import is_binary

    for byte in range(256):
        text_control = byte in (9, 10, 12, 13)  # tab, LF, FF, CR
        head = b"a,b\n1," + bytes([byte]) + b"\n"
        assert is_binary(head) is (byte < 32 and not text_control), byte


@pytest.mark.parametrize(
    "text, sep, decimal, short",
    [
        ("a;b\n1,5;x\n2,5;y\n", ";", ",", False),  # not ',' under a one-name header
        ("a;b;c\n1,5;x;2\n", ";", ",", False),
        ('"a" "b"\n"r1" 1 2\n"r2" 3 4\n', " ", ".", True),  # R's write.table
        ("a,b\nr1,1,2\nr2,3,4\n", ",", ".", True),  # write.table(sep = ",")
        ("a\nr1,1\nr2,3\n", ",", ".", True),  # one named column beside the row names
    ],
)
def test_a_short_header_is_taken_only_when_no_delimiter_fits_header_and_rows(
    tmp_path, text, sep, decimal, short
):
    path = tmp_path / "t.csv"
    path.write_text(text)
    found = inputs.dialect_of(str(path))
    assert (found.delimiter, found.decimal, found.short_header) == (sep, decimal, short)


def test_a_header_of_one_column_stops_the_run_with_the_reading_to_fix(tmp_path):
    """lifelines' divorce.dat: columns aligned by runs of spaces, values holding spaces."""
    from nanguard.pipelines import data as data_lib

    fixed = tmp_path / "divorce.dat"
    fixed.write_text(
        "       id        heduc   heblack   div\n"
        "        9   12-15 years        No    No\n"
        "       11    < 12 years        No    No\n"
    )
    with pytest.raises(InputError) as raised:
        data_lib.read_data(str(fixed))
    assert str(raised.value) == (
        f"{fixed}: the header reads as ONE column 'id        heduc   heblack   div' holding runs "
        "of spaces: its columns look aligned by spaces (a fixed-width table), which nanguard "
        "does not read; save it as CSV (pandas: read_fwf(path).to_csv(out, index=False)), or "
        "set data_guard.csv_delimiter: space if cells are one space apart and no value holds one"
    )
    # A ;-separated file read with a forced comma: one column holding ';' is refused too.
    path = _write(_frame().drop(columns="Name"), tmp_path / "e.csv", ";", ".", "cp1252")
    forced = DataGuardConfig(csv_delimiter=",", csv_encoding="cp1252")
    with pytest.raises(InputError, match="ONE column .* set data_guard.csv_delimiter: ';'"):
        data_lib.read_data(path, forced)
    # A real one-column file (a label alone) is read.
    single = tmp_path / "one.csv"
    single.write_text("y\n1\n2\n")
    assert data_lib.read_data(str(single))[0].column_names == ["y"]
