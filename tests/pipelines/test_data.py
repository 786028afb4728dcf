"""CSV staging: missing tokens become empty cells, everything else stays as written."""

import csv
import os

import pandas as pd
import pyarrow as pa
import pytest

from nanguard.pipelines import data, table_notes


def _staged_rows(out_dir):
    assert os.listdir(out_dir) == ["data.csv"]  # CsvExampleGen reads every file in the folder
    with open(os.path.join(out_dir, "data.csv"), newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_bundled_penguins_keep_their_real_gaps(penguins_csv, tmp_path):
    out = data.stage_csv(penguins_csv, str(tmp_path / "staged"))
    rows = _staged_rows(out)
    header, body = rows[0], rows[1:]
    reference = pd.read_csv(penguins_csv)  # pandas reads NA as missing
    assert header == list(reference.columns)
    assert len(body) == len(reference) == 344
    for i, column in enumerate(header):
        empty = sum(1 for r in body if r[i] == "")
        assert empty == int(reference[column].isna().sum()), column
    assert sum(1 for r in body if r[header.index("sex")] == "") == 11
    assert sum(1 for r in body if r[header.index("bill_length_mm")] == "") == 2


def test_missing_tokens_and_float_tokens(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        'a,b,c\nNA,nan,"x, y"\nnull,inf,plain\nNone,-inf,"say ""hi"""\n,Infinity,\n1.5,NaN,z\n'
    )
    rows = _staged_rows(data.stage_csv(str(src), str(tmp_path / "out")))
    assert rows[0] == ["a", "b", "c"]
    assert [r[0] for r in rows[1:]] == ["", "", "", "", "1.5"]
    assert [r[1] for r in rows[1:]] == ["nan", "inf", "-inf", "Infinity", "NaN"]
    assert [r[2] for r in rows[1:]] == ["x, y", "plain", 'say "hi"', "", "z"]


def test_folder_of_csvs_is_concatenated_and_a_used_folder_is_never_written(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "b.csv").write_text("x,y\n3,4\n")
    out = tmp_path / "out"
    data.stage_csv(str(folder), str(out))
    assert _staged_rows(str(out)) == [["x", "y"], ["1", "2"], ["3", "4"]]
    # Staging into a folder that holds anything (here: the data itself) is refused, untouched.
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(data.InputError, match="new or empty folder"):
        data.stage_csv(str(folder), str(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\xff\xfe\x00binary", "not a text file"),
        (b"x,y\n", "no data rows"),
    ],
)
def test_bad_input_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(data.InputError, match=message) as err:
        data.stage_csv(str(path), str(tmp_path / "out"))
    assert str(path) in str(err.value)


def test_folders_with_different_headers_are_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "b.csv").write_text("x,z\n3,4\n")
    with pytest.raises(data.InputError, match="b.csv: header"):
        data.stage_csv(str(folder), str(tmp_path / "out"))


# ---- issue #10: missing spellings, stray strings, headers, input forms ----

from nanguard.components import cells  # noqa: E402
from nanguard.components.data_guard.config import DataGuardConfig  # noqa: E402
from nanguard.components.errors import GuardBlockedError  # noqa: E402

_NUMBERS = [f"{i}.5" for i in range(30)]
BLOCK = DataGuardConfig(stray_strings="block")  # the default reads stray strings as missing


def _column_csv(path, cells_of_x):
    """A CSV with a numeric-ish column x and a text column y, one row per cell of x."""
    rows = [f'"{c}",r{i}' if "," in c else f"{c},r{i}" for i, c in enumerate(cells_of_x)]
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    return str(path)


def test_every_default_missing_token_is_read_as_missing_as_pandas_does(tmp_path):
    tokens = [t for t in cells.MISSING_TOKENS if t]  # the empty cell needs no spelling
    assert set(tokens) >= {"NA", "?", "-", "n/a", "N/A", "#N/A", "NULL", "missing", " "}
    path = _column_csv(tmp_path / "t.csv", ["1.5", *tokens, "nan", "-inf", "Infinity", ""])
    table, notes = data.read_data(path)
    reference = pd.read_csv(path, na_values=list(cells.MISSING_TOKENS), keep_default_na=False)
    x = table.column("x").to_pylist()
    assert notes == [] and [v is None for v in x] == reference["x"].isna().tolist()
    assert x == ["1.5", *[None] * len(tokens), "nan", "-inf", "Infinity", None]
    rows = _staged_rows(data.stage_csv(path, str(tmp_path / "out")))
    assert [r[0] for r in rows[1:]] == ["1.5", *[""] * len(tokens), "nan", "-inf", "Infinity", ""]


def test_missing_tokens_from_config_extend_the_default_set(tmp_path):
    path = _column_csv(tmp_path / "t.csv", [*_NUMBERS, "-999", ".", "?", "7"])
    config = DataGuardConfig.from_dict({"missing_tokens": ["-999", "."]})
    assert config.missing_values()[: len(cells.MISSING_TOKENS)] == cells.MISSING_TOKENS
    table, notes = data.read_data(path, config)
    assert table.column("x").to_pylist()[30:] == [None, None, None, "7"] and notes == []
    default, notes = data.read_data(path, DataGuardConfig(stray_strings="treat_as_missing"))
    assert default.column("x").to_pylist()[30:] == ["-999", None, None, "7"]  # '.' is stray
    assert "'.' x1; read as missing" in notes[0]


def test_stray_strings_block_names_feature_tokens_and_counts(tmp_path):
    """30 numbers, 2 '?' (a missing token) and 1 'abc': 30 of 31 non-missing are numbers."""
    path = _column_csv(tmp_path / "t.csv", [*_NUMBERS, "?", "abc", "?"])
    default, notes = data.read_data(path)  # the default reads it as missing, with a note
    assert default.column("x").to_pylist()[-3:] == [None, None, None]
    assert len(notes) == 1 and "'abc' x1; read as missing" in notes[0]
    with pytest.raises(GuardBlockedError) as info:
        data.read_data(path, BLOCK)
    message = str(info.value)
    assert f"feature 'x' in --data {path}: 1 cell(s) that are not numbers" in message
    assert "'abc' x1" in message and "30 of its 31 non-missing cells are numbers" in message
    assert "'y'" not in message  # a text column is never stray
    assert data.stray_strings(data.read_csv(path)) == {
        "x": {"tokens": {"abc": 1}, "count": 1, "why": "30 of its 31 non-missing cells are numbers"}
    }
    out = tmp_path / "out"
    with pytest.raises(GuardBlockedError):
        data.stage_csv(path, str(out), BLOCK)
    assert not out.exists()  # nothing staged
    table, notes = data.read_data(path, BLOCK.replace(mode="warn"))
    assert table.column("x").to_pylist()[-3:] == [None, "abc", None]
    assert len(notes) == 1 and "staged as written (mode warn)" in notes[0]


def test_stray_strings_treat_as_missing_stages_them_empty_and_says_so(tmp_path):
    numbers = [f"{i}.5" for i in range(40)]
    path = _column_csv(tmp_path / "t.csv", [*numbers, "?", "abc", "?", "12,5", ">100", "abc"])
    config = DataGuardConfig(stray_strings="treat_as_missing")
    _, notes = data.read_data(path, config)
    assert notes == [
        f"feature 'x' in --data {path}: 4 cell(s) that are not numbers in a numeric column "
        "(40 of its 44 non-missing cells are numbers): 'abc' x2, '12,5' x1, '>100' x1; read as "
        "missing (stray_strings: treat_as_missing)"
    ]
    rows = _staged_rows(data.stage_csv(path, str(tmp_path / "out"), config))
    assert [r[0] for r in rows[1:]] == [*numbers, *[""] * 6]
    assert [r[1] for r in rows[1:]] == [f"r{i}" for i in range(46)]


def test_a_curated_schema_makes_a_column_numeric_whatever_its_share(tmp_path):
    path = _column_csv(tmp_path / "t.csv", ["1", "2", "abc", "abc", "x"])
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "x" type: FLOAT }\nfeature { name: "y" type: BYTES }\n')
    assert data.read_data(path)[1] == []  # 2 of 5 numbers: a text column without a schema
    with pytest.raises(GuardBlockedError, match=r"the schema says FLOAT\): 'abc' x2, 'x' x1"):
        data.read_data(path, BLOCK, schema_path=str(schema))
    table, _ = data.read_data(path, DataGuardConfig(stray_strings="treat_as_missing"), str(schema))
    assert table.column("x").to_pylist() == ["1", "2", None, None, None]
    bad = tmp_path / "bad.pbtxt"
    bad.write_text("feature { name: ")
    with pytest.raises(data.InputError, match=f"--schema {bad}: cannot be read as a schema"):
        data.read_data(path, schema_path=str(bad))


@pytest.mark.parametrize(
    "header, words",
    [
        ("a,b,a", "columns 1 and 3 are both named 'a'"),
        ("a,,c", "column 2 of the header has no name"),
        ("a, ,c", "column 2 of the header has no name"),
    ],
)
def test_duplicate_or_empty_header_name_is_input_error_naming_the_position(tmp_path, header, words):
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\n1,2,3\n")
    with pytest.raises(data.InputError) as info:
        data.stage_csv(str(path), str(tmp_path / "out"))
    assert str(info.value) == f"{path}: {words}; " + (
        "give every column its own name" if "both" in words else "name every column"
    )


def test_a_line_of_counts_above_the_header_is_named_as_such(tmp_path):
    """scikit-learn's own CSVs start with a line of counts (`506,13,,,`) above the header: the
    error says so and what to do, not only that a column has no name."""
    path = tmp_path / "boston.csv"
    path.write_text("506,13,,\nCRIM,ZN,INDUS,MEDV\n0.006,18.0,2.31,24.0\n")
    with pytest.raises(data.InputError) as info:
        data.stage_csv(str(path), str(tmp_path / "out"))
    assert str(info.value) == (
        f"{path}: column 3 of the header has no name; name every column (line 1 holds only "
        "numbers: 506, 13; if the header is on a later line, delete the lines above it)"
    )


def test_a_preamble_with_text_above_the_header_is_named_by_the_widths(tmp_path):
    """scikit-learn's wine_data.csv: `178,13,class_0,class_1,class_2` above 14 columns."""
    path = tmp_path / "wine.csv"
    rows = "\n".join(",".join(str(i + j) for j in range(14)) for i in range(3))
    path.write_text("178,13,class_0,class_1,class_2\n" + rows + "\n")
    with pytest.raises(data.InputError) as info:
        data.stage_csv(str(path), str(tmp_path / "out"))
    assert str(info.value).startswith(f"{path}: cannot be read as CSV read as ','-separated")
    assert str(info.value).endswith(
        "); the header names 5 columns and a row holds 14 cells: if the header is on a later "
        "line (a preamble such as scikit-learn's count line), delete the lines above it; if a "
        "text cell holds the delimiter, quote it"
    )


def test_identifier_columns_are_named_with_the_key_that_leaves_them_out():
    """Kept, with a warning: a row counter or sorted ids, and text that never repeats; not a
    measurement, a repeated value, a gap, a sorted float, or fewer than 20 rows."""
    n = 25
    table = pa.table({
        "row": [str(i) for i in range(1, n + 1)],
        "id": [str(3 * i + 4) for i in range(n)],  # sorted, with gaps
        "name": [f"person {i}" for i in range(n)],
        "income": [str((i * 7919) % 101) for i in range(n)],  # distinct, not sorted
        "city": ["Oslo", "Bergen"] * 12 + ["Oslo"],
        "gappy": [str(i) for i in range(n - 1)] + [None],
        "height": [f"{1.5 + i / 100:.2f}" for i in range(n)],  # sorted, not whole numbers
    })  # fmt: skip
    notes = table_notes.identifier_notes(table)
    assert notes == [
        "feature 'row': whole numbers, each different and rising row by row (a row number, a "
        "saved index, an id) predict nothing about a new row; set transform.exclude: [row] if "
        "it is one",
        "feature 'id': whole numbers, each different and rising row by row (a row number, a "
        "saved index, an id) predict nothing about a new row; set transform.exclude: [id] if "
        "it is one",
        "feature 'name': each of its 25 values is different (a name or an id): learnt as a "
        "vocabulary that no new row will match; set transform.exclude: [name] unless its "
        "values recur",
    ]
    assert table_notes.identifier_notes(table.slice(0, 19)) == []
    # statsmodels' fair `identifier`: two sorted runs joined (9029 then 6), 1 drop in 600 steps.
    joined = [*range(1000, 1400), *range(1, 201)]
    ids = pa.table({"identifier": [str(i) for i in joined]})
    assert len(table_notes.identifier_notes(ids)) == 1
    wobbly = [i + (5 if i % 50 == 0 else 0) for i in range(0, 2 * 600, 2)]  # 2% of steps drop
    assert table_notes.identifier_notes(pa.table({"x": [str(i) for i in wobbly]})) == []


def test_notes_added_after_reading_reach_the_staging_record(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1,5;x\n2,5;y\n")
    table, notes = data.read_data(str(path))
    assert notes == [f"{path}: read as ';'-separated, decimal comma, utf-8"]
    staged = data.write_staged(data.with_notes(table, ["an id column"]), str(tmp_path / "s"))
    assert data.read_record(staged)["notes"] == [*notes, "an id column"]
    assert pd.read_csv(os.path.join(staged, "data.csv"))["a"].tolist() == [1.5, 2.5]


def test_gzip_csv_and_a_folder_stage_the_same_cells_as_the_plain_file(tmp_path):
    import gzip

    text = "x,flag,day,n\n1.5,true,2024-01-05,3\nNA,false,2024-02-29,-\n-inf,true,,7\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    folder = tmp_path / "parts"
    folder.mkdir()
    lines = text.splitlines(keepends=True)
    (folder / "a.csv").write_text("".join(lines[:2]))
    (folder / "b.csv.gz").write_bytes(gzip.compress("".join([lines[0], *lines[2:]]).encode()))
    want = _staged_rows(data.stage_csv(str(plain), str(tmp_path / "o1")))
    assert want[1:] == [
        ["1.5", "true", "2024-01-05", "3"],
        ["", "false", "2024-02-29", ""],
        ["-inf", "true", "", "7"],
    ]
    assert _staged_rows(data.stage_csv(str(packed), str(tmp_path / "o2"))) == want
    assert _staged_rows(data.stage_csv(str(folder), str(tmp_path / "o3"))) == want
    # Boolean-like and date-like columns are text (categorical), never stray strings.
    assert data.stray_strings(data.read_csv(str(plain))) == {}


@pytest.mark.parametrize("text", ["x,y\n", "x,y", "\ufeffx,y\r\n"])
def test_header_only_file_is_input_error_as_in_scan(tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(data.InputError, match=f"--data {path}: no data rows; pass a CSV"):
        data.read_data(str(path))


def _run(capsys, tmp_path, *argv):
    from nanguard.pipelines import cli

    code = cli.main(["run", "--root", str(tmp_path / "root"), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_run_blocks_stray_strings_before_the_pipeline_and_scan_agrees(tmp_path, capsys):
    """`nanguard run` stops with exit 3 naming feature, tokens and counts before anything is
    claimed or staged; `scan --check` says the same of the same file (exit 3)."""
    path = _column_csv(tmp_path / "t.csv", [*_NUMBERS, "?", "abc", "?"])
    config = tmp_path / "block.yaml"
    config.write_text("data_guard:\n  stray_strings: block\n")
    code, text = _run(capsys, tmp_path, "--data", path, "--label", "y", "--config", str(config))
    assert code == 3, text
    assert text.startswith("BLOCKED: stray strings in numeric columns (stray_strings: block): ")
    assert f"feature 'x' in --data {path}: 1 cell(s) that are not numbers" in text
    assert "'abc' x1" in text and "Nothing was run or pushed." in text
    assert not (tmp_path / "root").exists()
    from nanguard.pipelines import cli

    assert cli.main(["scan", path, "--check", "--policy", '{"stray_strings": "block"}']) == 3
    assert "VIOLATION: feature 'x' holds 1 value(s) that are not numbers" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, words",
    [
        ("a,b,a\n1,2,3\n", "columns 1 and 3 are both named 'a'"),
        ("a,,c\n1,2,3\n", "column 2 of the header has no name"),
        ("a,b,c\n", "no data rows"),
    ],
)
def test_run_and_scan_exit_2_alike_on_bad_headers_and_header_only_files(
    tmp_path, capsys, content, words
):
    from nanguard.pipelines import cli

    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, text = _run(capsys, tmp_path, "--data", str(path), "--label", "a")
    assert code == 2 and str(path) in text and words in text, text
    assert cli.main(["scan", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err and "neither TFRecords" not in err, err


@pytest.mark.parametrize(
    ("header", "position", "what"),
    [
        ('species,"Bill, mm"', 2, "holds ','"),
        ('" Species",x', 1, "starts or ends with a space"),
        ('species,"x "', 2, "starts or ends with a space"),
        ('species,"say ""hi"""', 2, "holds '\"'"),
    ],
)
def test_a_header_csv_example_gen_cannot_read_exits_2_naming_the_column(
    tmp_path, header, position, what
):
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\nAdelie,1\n", encoding="utf-8")
    with pytest.raises(data.InputError) as info:
        data.read_data(str(path))
    assert f"--data {path}: column {position} (" in str(info.value)
    assert what in str(info.value) and "rename the column" in str(info.value)


@pytest.mark.parametrize(
    ("header", "first", "second", "arg"),
    [
        ("c,a.b,a_b,y", "2 ('a.b')", "3 ('a_b')", "'a_b'"),
        ('c," x",_x,y', "2 (' x')", "3 ('_x')", "'arg__x'"),
        ("Solar.R,y,Solar R", "1 ('Solar.R')", "3 ('Solar R')", "'Solar_R'"),
    ],
)
def test_columns_a_saved_model_would_merge_exit_2_naming_both(tmp_path, header, first, second, arg):
    """`a.b` beside `a_b`: TensorFlow names the saved transform layer's inputs alike, and the
    exported model failed to load in the Evaluator ("duplicate parameter name", exit 1)."""
    path = tmp_path / "h.csv"
    values = ",".join("1" for _ in header.split(","))
    path.write_text(f"{header}\n{values}\n", encoding="utf-8")
    with pytest.raises(data.InputError) as info:
        data.read_data(str(path))
    message = str(info.value)
    assert f"--data {path}: columns {first} and {second}" in message, message
    assert f"(both {arg})" in message and "rename one of them" in message


def test_a_space_inside_a_middle_name_is_fine(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('species,"Bill Length (mm) ",y\nAdelie,1,2\n', encoding="utf-8")
    table, notes = data.read_data(str(path))
    assert table.column_names == ["species", "Bill Length (mm) ", "y"] and notes == []


# ---- issue #23: any CSV a spreadsheet writes; missing spellings under the user's control ----


def _excel_german(path, frame):
    """`;`-separated, decimal commas, cp1252, CRLF: Excel's CSV in a German locale."""
    frame.to_csv(path, sep=";", decimal=",", encoding="cp1252", index=False, na_rep="NA",
                 lineterminator="\r\n")  # fmt: skip
    return str(path)


def test_a_spreadsheet_export_is_staged_as_the_canonical_csv_with_its_record(tmp_path):
    """Before: exit 2 ("Expected 1 columns, got 8"). Now staged as comma-separated UTF-8 with
    decimal points, equal to pandas told the dialect, and a record of how it was read."""
    frame = pd.read_csv(data.bundled_penguins_csv())
    frame["island"] = frame["island"].replace({"Dream": "Trèam"})
    path = _excel_german(tmp_path / "pinguine.csv", frame)
    table, notes = data.read_data(path)
    assert notes == [f"{path}: read as ';'-separated, decimal comma, cp1252"]
    out = data.write_staged(table, str(tmp_path / "staging" / "run-1"))
    rows = _staged_rows(out)  # only data.csv inside: the record lies beside the folder
    staged = pd.read_csv(os.path.join(out, "data.csv"))  # pandas' defaults: ',', '.', UTF-8
    reference = pd.read_csv(path, sep=";", decimal=",", encoding="cp1252")
    pd.testing.assert_frame_equal(staged, reference)
    assert (
        rows[0] == list(frame.columns) and "39.1" in rows[1] and "Trèam" in staged["island"].values
    )
    record = data.read_record(out)
    assert data.record_path(out) == str(tmp_path / "staging" / "run-1.staging.json")
    assert record["dialect"] == {path: {"delimiter": ";", "decimal": ",", "encoding": "cp1252"}}
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="cp1252")
    assert record["missing_spellings"] == {
        name: {"NA": int((raw[name] == "NA").sum())}
        for name in raw.columns
        if (raw[name] == "NA").any()
    }
    assert record["missing_spellings"]["sex"] == {"NA": 11}
    assert record["reading"]["csv_delimiter"] == "auto" and record["rows"] == 344
    assert record["stray_strings"] == {} and record["notes"] == notes


def test_a_semicolon_file_with_decimal_points_is_not_one_string_column(tmp_path):
    frame = pd.read_csv(data.bundled_penguins_csv())
    path = tmp_path / "p.csv"
    frame.to_csv(path, sep=";", index=False)
    table, _ = data.read_data(str(path))
    assert table.column_names == list(frame.columns)
    assert table.column("bill_length_mm").to_pylist()[:2] == ["39.1", "39.5"]


def test_replaced_missing_spellings_keep_a_category_spelled_none(tmp_path):
    """Cars93's AirBags: `None` means no airbags, a real category (34 of 93 cars there)."""
    path = tmp_path / "cars.csv"
    bags = ["None", "Driver only", "Driver & Passenger"] * 10 + ["NA", ""]
    path.write_text("AirBags,Price\n" + "".join(f"{b},{i}.5\n" for i, b in enumerate(bags)))
    default, _ = data.read_data(str(path))
    assert default.column("AirBags").null_count == 12
    config = DataGuardConfig(default_missing_tokens=False, missing_tokens=("NA",))
    table, _ = data.read_data(str(path), config)
    assert table.column("AirBags").to_pylist().count("None") == 10
    assert table.column("AirBags").null_count == 2
    out = data.write_staged(table, str(tmp_path / "out"))
    assert data.read_record(out)["missing_spellings"] == {"AirBags": {"NA": 1, "": 1}}
    assert data.read_record(out)["reading"]["default_missing_tokens"] is False


def test_a_table_of_repeated_rows_is_warned_of_its_split():
    """At most half the rows distinct (label included) -> one warning naming the fix; a table
    whose rows differ, or one under 20 rows, gets none."""
    repeated = pa.table({"sex": ["man", "woman"] * 15, "survived": ["yes", "no", "no"] * 10})
    (note,) = table_notes.duplicate_notes(repeated)
    assert note.startswith("30 rows but only 4 distinct") and "transform.exclude: [row]" in note
    distinct = pa.table({"x": [str(i) for i in range(30)], "y": ["a", "b"] * 15})
    assert table_notes.duplicate_notes(distinct) == []
    assert table_notes.duplicate_notes(repeated.slice(0, 19)) == []
    # 16 distinct of 30: more than half, no warning; 15 of 30: warned.
    half = pa.table({"x": [str(i % 16) for i in range(30)]})
    assert table_notes.duplicate_notes(half) == []
    assert len(table_notes.duplicate_notes(pa.table({"x": [str(i % 15) for i in range(30)]}))) == 1
