"""scan.py: `nanguard scan`'s logic on CSV and TFRecords: exact counts, verdicts, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nanguard.components.data_guard import scan, scan_csv
from nanguard.components.errors import InputError
from tests.data_guard.helpers import (
    CRAFTED,
    MULTI_PROCESS,
    PENGUINS,
    example,
    write_records,
)


def test_missing_tokens_are_missing_and_float_tokens_are_values(tmp_path):
    """Replaces the test of the old line rewriter: the real reader, cell by cell."""
    path = tmp_path / "t.csv"
    path.write_text('a,b,c,d,e,f,g,h,i\nNA,1,null,"None",nan,NaN,NAB,inf,None\n1,2,3,4,5,6,7,8,9\n')
    features = scan.scan_path(str(path))["features"]
    missing = {name: f["missing"] for name, f in features.items()}
    assert missing == dict(a=1, b=0, c=1, d=1, e=0, f=0, g=0, h=0, i=1)
    assert (features["e"]["nan"], features["f"]["nan"], features["h"]["pos_inf"]) == (1, 1, 1)
    assert features["g"]["type"] == "STRING"  # 'NAB' is text, not a missing token


def test_scan_header_only_csv_is_input_error_and_an_empty_tfrecord_a_violation(tmp_path):
    """A CSV input with no data row is bad input, as in `run`'s staging (same words); an empty
    TFRecord split is the data guard's 'empty' violation, as in the pipeline."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "e.csv").write_text("a,b\n")
    (empty / "f.csv").write_text("a,b")
    with pytest.raises(InputError, match=f"{empty}: no data rows; pass a CSV with a header"):
        scan.scan_path(str(empty))
    records = tmp_path / "records"
    records.mkdir()
    write_records(str(records / "part-0"), [], gzip=False)
    result = scan.scan_path(str(records))
    assert result["rows"] == 0 and not result["blessed"] and result["format"] == "tfrecord"
    assert [(v["split"], v["kind"]) for v in result["violations"]] == [("all", "empty")]


def test_scan_folder_of_csvs(tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "p1.csv").write_text("a,b\n1,NA\nnan,2\n")
    (folder / "p2.csv").write_text("a,b\n-inf,3\n,4\n")
    result = scan.scan_path(str(folder))
    a, b = result["features"]["a"], result["features"]["b"]
    assert result["rows"] == 4
    assert (a["present"], a["missing"], a["nan"], a["neg_inf"], a["finite"]) == (3, 1, 1, 1, 1)
    assert (b["present"], b["missing"], b["mean"]) == (3, 1, 3.0)


def test_scan_penguins_passes_check():
    result = scan.scan_path(PENGUINS, label_key="species")
    df = pd.read_csv(PENGUINS)  # pandas reads NA as missing: the independent reference
    assert result["rows"] == len(df) == 344
    for name in df.columns:
        feat = result["features"][name]
        assert feat["missing"] == df[name].isna().sum(), name
        if df[name].dtype.kind == "f":
            np.testing.assert_allclose(feat["mean"], df[name].mean(), rtol=1e-6)
            np.testing.assert_allclose(feat["std"], df[name].std(ddof=0), rtol=1e-5)
    assert result["blessed"] and result["violations"] == []


def test_utf8_character_straddling_byte_65536_is_read(tmp_path):
    """The old reader decoded only the first 64 KiB and rejected the file."""
    prefix = "x,name\n"
    row = "1.0,abc\n"
    body = prefix + row * ((65536 - len(prefix)) // len(row) - 10)
    pad = 65536 - len(body.encode()) - 1  # the 2-byte 'é' starts at byte 65535
    body += "2.0," + "a" * (pad - 4) + "é\n" + "3.0,z\n"
    path = tmp_path / "big.csv"
    path.write_bytes(body.encode("utf-8"))
    raw = path.read_bytes()
    assert raw[65535:65537] == "é".encode()  # straddles byte 65,536
    result = scan.scan_path(str(path))
    df = pd.read_csv(path)
    assert result["rows"] == len(df)
    assert result["features"]["x"]["finite"] == df["x"].notna().sum()
    np.testing.assert_allclose(result["features"]["x"]["mean"], df["x"].mean(), rtol=1e-6)


def test_quoted_field_holding_a_newline_is_one_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('x,note\n1.5,"two\nlines"\nnan,"a, b"\n,plain\n')
    result = scan.scan_path(str(path))
    df = pd.read_csv(path)
    assert result["rows"] == len(df) == 3
    x = result["features"]["x"]
    assert (x["present"], x["missing"], x["nan"], x["finite"]) == (2, 1, 1, 1)
    assert result["features"]["note"]["present"] == 3


def test_readme_only_folder_is_input_error_naming_the_folder(tmp_path):
    (tmp_path / "README.md").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=str(tmp_path) + ".*no .csv file"):
        scan.scan_path(str(tmp_path))
    # Next to real CSV files a README is simply not data.
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    assert scan.scan_path(str(tmp_path))["rows"] == 1


def test_string_in_numeric_column_of_the_schema_names_tokens_file_and_line(tmp_path):
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = tmp_path / "d.csv"
    path.write_text('x,y\n1.5,a\n"multi\nline",b\n2.5,c\nabc,d\n')
    s = schema_pb2.Schema()
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    result = scan.scan_path(str(path), schema=s, config={"stray_strings": "block"})
    (v,) = result["violations"]
    assert (v["feature"], v["kind"], v["details"]["count"], v["details"]["tokens"]) == (
        "x",
        "type",
        2,
        {"abc": 1, "multi\nline": 1},
    )
    assert not result["blessed"] and result["features"]["x"]["type"] == "STRING"
    message = v["message"]
    # The smallest stray ('abc' < 'multi\nline') and its first line, in physical lines.
    assert f"First 'abc' at {path} (line 6)" in message
    assert "feature 'x' holds 2 value(s)" in message and "'multi\\nline' x1" in message


def test_tfrecords_and_beam_give_the_in_process_profile(tmp_path):
    records = [example(float(i), i, "s" if i % 3 else None) for i in range(50)]
    records.append(example(float("nan"), None, "s"))
    write_records(str(tmp_path / "part-0.gz"), records[:20], gzip=True)
    write_records(str(tmp_path / "part-1"), records[20:], gzip=False)
    (tmp_path / "README.md").write_text("not data")
    in_process = scan.scan_path(str(tmp_path))
    on_beam = scan.scan_path(str(tmp_path), beam_pipeline_args=MULTI_PROCESS)
    assert in_process["format"] == "tfrecord" and in_process["rows"] == 51
    x = in_process["features"]["x"]
    assert (x["present"], x["nan"], x["finite"], x["mean"]) == (51, 1, 50, 24.5)
    assert in_process["features"]["s"]["missing"] == 17
    _assert_same_profile(on_beam, in_process)
    crafted = scan.scan_path(CRAFTED)
    crafted_beam = scan.scan_path(CRAFTED, beam_pipeline_args=["--direct_num_workers=1"])
    _assert_same_profile(crafted_beam, crafted)


def _assert_same_profile(got, want):
    """Counts, verdict and strings equal; float statistics equal up to merge order."""
    assert got.keys() == want.keys()
    for key in got:
        if key != "features":
            assert got[key] == want[key], key
    assert got["features"].keys() == want["features"].keys()
    for name, feat in got["features"].items():
        for key, value in feat.items():
            if isinstance(value, float):
                np.testing.assert_allclose(value, want["features"][name][key], rtol=1e-9)
            else:
                assert value == want["features"][name][key], (name, key)


def _generated_csv(path, late_text, rows=3000, seed=0):
    """Numbers with gaps, missing tokens, NaN, +/-Inf, huge and >float32 values; text columns,
    one with a string that appears only after many batches."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(4):
        values = rng.normal(10.0 * i, 3.0 + i, rows).round(4).astype(str).astype(object)
        kind = rng.choice(8, size=rows, p=[0.8, 0.05, 0.03, 0.02, 0.02, 0.03, 0.03, 0.02])
        values[kind == 1] = ""
        values[kind == 2] = rng.choice(["NA", "null", "None"], size=(kind == 2).sum())
        values[kind == 3] = rng.choice(["nan", "NaN"], size=(kind == 3).sum())
        values[kind == 4] = rng.choice(["inf", "Infinity"], size=(kind == 4).sum())
        values[kind == 5] = "-inf"
        values[kind == 6] = "3e25"  # huge: its square overflows float32
        values[kind == 7] = "-1e39"  # beyond float32: -Inf once typed as tf.Example stores it
        columns[f"x{i}"] = values
    columns["ints"] = rng.integers(-5, 5, rows).astype(str).astype(object)
    columns["ints"][rng.random(rows) < 0.1] = ""
    columns["color"] = rng.choice(["red", "blue", "", "NA"], size=rows).astype(object)
    late = rng.normal(size=rows).round(3).astype(str).astype(object)
    if late_text:  # numbers for 2000 rows, then text: CsvExampleGen types it STRING
        late[2000:] = "word"
    columns["late"] = late
    names = list(columns)
    lines = [",".join(names)] + [",".join(row) for row in zip(*columns.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return names


@pytest.mark.parametrize("late_text", [False, True])
def test_streamed_scan_counts_equal_pandas_and_numpy(tmp_path, monkeypatch, late_text):
    """The streaming reader over ~40 small batches (one pass, or two when text appears late in
    a number column) gives numpy's counts on pandas' reading of the text, and the whole-table
    profile."""
    from nanguard.components import csv_types, inputs
    from nanguard.components.data_guard import profiling

    path = tmp_path / "g.csv"
    names = _generated_csv(path, late_text)
    monkeypatch.setattr(scan_csv, "CSV_BLOCK_BYTES", 4096)
    result = scan.scan_path(str(path))
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert result["rows"] == len(df) == 3000
    for name in names:
        feat, text = result["features"][name], df[name]
        missing = text.isin(["", "NA", "null", "None"]).to_numpy()
        assert feat["missing"] == missing.sum() and feat["present"] == (~missing).sum(), name
        spelled = text[missing].value_counts().to_dict()  # each spelling read as missing
        assert (
            feat.pop("missing_spellings", {}) == spelled
            and result["missing_spellings"].get(name, {}) == spelled
        ), name
        if name.startswith("x"):
            with np.errstate(over="ignore"):
                v = text[~missing].astype(np.float64).to_numpy().astype(np.float32)
            finite = v[np.isfinite(v)].astype(np.float64)
            assert feat["type"] == "FLOAT"
            assert (feat["nan"], feat["pos_inf"], feat["neg_inf"]) == (
                np.isnan(v).sum(),
                np.isposinf(v).sum(),
                np.isneginf(v).sum(),
            ), name
            assert feat["neg_inf"] > (text == "-inf").sum()  # -1e39 counted as -Inf
            assert feat["huge"] == (np.abs(finite) > 1.8446744e19).sum() > 0
            assert feat["finite"] == finite.size
            np.testing.assert_allclose(feat["mean"], finite.mean(), rtol=1e-9)
            np.testing.assert_allclose(feat["std"], finite.std(), rtol=1e-6)
            assert (feat["min"], feat["max"]) == (finite.min(), finite.max())
    assert result["features"]["ints"]["type"] == "INT"
    assert result["features"]["ints"]["mean"] == pytest.approx(
        df["ints"][df["ints"] != ""].astype(int).mean(), rel=1e-12
    )
    assert result["features"]["color"]["type"] == "STRING"
    late = result["features"]["late"]
    assert (late["type"], late.get("numeric_like")) == (
        ("STRING", 2000) if late_text else ("FLOAT", None)
    )
    whole = profiling.profile_record_batches(
        csv_types.example_gen_types(inputs.read_csv(str(path))).to_batches(max_chunksize=65536)
    )
    _assert_same_profile({"features": result["features"]}, {"features": whole["features"]})


def test_csv_on_beam_gives_the_in_process_profile(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("x,n,s\n1,2,a\nnan,,b\n")
    (folder / "b.csv").write_text("x,n,s\n-inf,3,\n2.5,4,a\n")  # x: int in a.csv, float here
    in_process = scan.scan_path(str(folder))
    on_beam = scan.scan_path(str(folder), beam_pipeline_args=["--direct_num_workers=1"])
    _assert_same_profile(on_beam, in_process)
    x = in_process["features"]["x"]
    assert (x["type"], x["nan"], x["neg_inf"], x["finite"], x["mean"]) == (
        "FLOAT",
        1,
        1,
        2,
        1.75,
    )


def test_local_csv_scan_imports_no_tensorflow_beam_or_pandas(tmp_path):
    """The whole `nanguard scan FILE --json OUT` process: heavy imports would cost seconds."""
    import json
    import subprocess
    import sys

    (tmp_path / "README.md").write_text("not data, and not a TFRecord\n")
    (tmp_path / "d.csv").write_text("a,b\n1,x\nnan,\n")
    out = tmp_path / "out" / "p.json"
    code = (
        "import sys; from nanguard.pipelines.cli import main; "
        f"rc = main(['scan', {str(tmp_path)!r}, '--json', {str(out)!r}]); "
        "heavy = ('tensorflow', 'apache_beam', 'tensorflow_data_validation', "
        "'tensorflow_model_analysis', 'pandas'); "
        "print([m for m in heavy if m in sys.modules], rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[] 0", done.stdout + done.stderr
    assert json.loads(out.read_text())["features"]["a"]["nan"] == 1


# ---- issue #10: missing spellings, stray strings, headers, input forms ----


def _x_column(path, cells_of_x):
    path.write_text("x,y\n" + "".join(f"{c},r{i}\n" for i, c in enumerate(cells_of_x)))
    return str(path)


def test_every_default_missing_token_counts_as_missing_as_pandas_reads_it(tmp_path):
    from nanguard.components import cells

    tokens = [t for t in cells.MISSING_TOKENS if t]
    path = _x_column(tmp_path / "t.csv", ["1.5", *tokens, "nan", "-inf", "", "2"])
    x = scan.scan_path(path)["features"]["x"]
    reference = pd.read_csv(path, na_values=list(cells.MISSING_TOKENS), keep_default_na=False)
    assert x["missing"] == int(reference["x"].isna().sum()) == len(tokens) + 1
    assert (x["type"], x["present"], x["nan"], x["neg_inf"], x["finite"]) == ("FLOAT", 4, 1, 1, 2)
    with_config = scan.scan_path(path, config={"missing_tokens": ["2"]})["features"]["x"]
    assert (with_config["missing"], with_config["finite"]) == (len(tokens) + 2, 1)


def test_numeric_column_with_two_question_marks_and_one_abc_under_both_policies(tmp_path):
    """'?' is missing; 'abc' is the stray: 30 of 31 non-missing cells are numbers."""
    path = _x_column(tmp_path / "t.csv", [*(f"{i}.5" for i in range(30)), "?", "abc", "?"])
    block = scan.scan_path(path, config={"stray_strings": "block"})
    (v,) = block["violations"]
    details = v["details"]
    assert (v["feature"], v["kind"], details["count"], details["tokens"], details["value"]) == (
        "x",
        "type",
        1,
        {"abc": 1},
        "abc",
    )
    assert "30 of its 31 non-missing values are numbers): 'abc' x1" in v["message"]
    assert f"First 'abc' at {path} (line 33)" in v["message"] and not block["blessed"]
    assert (v["key"], v["passing_value"]) == ("data_guard.stray_strings", "treat_as_missing")
    x = block["features"]["x"]
    assert (x["type"], x["missing"], x["numeric_like"], x["non_numeric"]) == (
        "STRING",
        2,
        30,
        {"abc": 1},
    )
    treat = scan.scan_path(path, config={"stray_strings": "treat_as_missing"})
    assert treat["violations"] == [] and treat["blessed"]
    x = treat["features"]["x"]
    assert (x["type"], x["missing"], x["finite"], x["stray_strings"]) == (
        "FLOAT",
        3,
        30,
        {"abc": 1},
    )
    assert x["mean"] == pytest.approx(np.mean([i + 0.5 for i in range(30)]))
    assert treat["notes"] == [
        "feature 'x': 2 cell(s) read as missing: '?' x2",
        "feature 'x': 1 value(s) that are not numbers read as missing "
        "(stray_strings: treat_as_missing): 'abc' x1",
    ]


def test_treat_as_missing_streams_in_batches_and_on_beam_like_the_whole_file(tmp_path, monkeypatch):
    """A stray string after many batches: the second pass nulls it in every batch, and the
    Beam path (per-file kinds merged) agrees with the in-process one."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=2000).round(3).astype(str).astype(object)
    values[1500] = "n.d."
    values[1900] = "<0.1"
    folder = tmp_path / "parts"
    folder.mkdir()
    _x_column(folder / "a.csv", values[:1000])
    _x_column(folder / "b.csv", values[1000:])
    monkeypatch.setattr(scan_csv, "CSV_BLOCK_BYTES", 2048)
    config = {"stray_strings": "treat_as_missing"}
    streamed = scan.scan_path(str(folder), config=config)
    on_beam = scan.scan_path(
        str(folder), config=config, beam_pipeline_args=["--direct_num_workers=1"]
    )
    x = streamed["features"]["x"]
    numbers = np.delete(values, [1500, 1900]).astype(np.float64).astype(np.float32)
    assert (x["type"], x["missing"], x["finite"]) == ("FLOAT", 2, 1998)
    assert x["stray_strings"] == {"<0.1": 1, "n.d.": 1}
    np.testing.assert_allclose(x["mean"], numbers.astype(np.float64).mean(), rtol=1e-9)
    _assert_same_profile(on_beam, streamed)
    assert on_beam["features"]["x"]["stray_strings"] == x["stray_strings"]


def test_gzip_csv_and_a_folder_count_the_same_as_the_plain_file(tmp_path):
    import gzip

    text = "x,flag,day,n\n1.5,true,2024-01-05,3\nNA,false,2024-02-29,-\n-inf,true,,7\nnan,?,x,1\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    folder = tmp_path / "parts"
    folder.mkdir()
    lines = text.splitlines(keepends=True)
    (folder / "a.csv").write_text("".join(lines[:3]))
    (folder / "b.csv.gz").write_bytes(gzip.compress("".join([lines[0], *lines[3:]]).encode()))
    want = scan.scan_path(str(plain))
    assert want["rows"] == 4
    assert [(v["feature"], v["kind"]) for v in want["violations"]] == [
        ("x", "missing"),
        ("x", "inf"),
    ]
    types = {name: f["type"] for name, f in want["features"].items()}
    assert types == {"x": "FLOAT", "flag": "STRING", "day": "STRING", "n": "INT"}
    assert {name: f["missing"] for name, f in want["features"].items()} == {
        "x": 1,
        "flag": 1,
        "day": 1,
        "n": 1,
    }
    assert (want["features"]["x"]["nan"], want["features"]["x"]["neg_inf"]) == (1, 1)
    for other in (packed, folder):
        got = scan.scan_path(str(other))
        assert (got["rows"], got["format"], got["violations"]) == (4, "csv", want["violations"])
        _assert_same_profile({"features": got["features"]}, {"features": want["features"]})


@pytest.mark.parametrize(
    "header, words",
    [
        ("a,b,a", "columns 1 and 3 are both named 'a'"),
        ("a,,c", "column 2 of the header has no name"),
    ],
)
def test_duplicate_or_empty_header_name_is_input_error_naming_the_position(tmp_path, header, words):
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\n1,2,3\n")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "ok.csv").write_text("a,b,c\n1,2,3\n")
    (folder / "z.csv").write_text(f"{header}\n1,2,3\n")
    for where, file in ((path, path), (folder, folder / "z.csv")):
        with pytest.raises(InputError) as info:
            scan.scan_path(str(where))
        assert str(info.value).startswith(f"{file}: {words}; "), str(info.value)


def test_a_spreadsheet_export_scans_as_pandas_reads_it_with_its_spellings(tmp_path, capsys):
    """`;` + decimal comma + cp1252 + CRLF: exit 2 before; now counted like pandas told the
    dialect, the missing spellings named per column on the console and in --json."""
    import json

    from nanguard.pipelines import cli

    frame = pd.read_csv(PENGUINS)
    frame["island"] = frame["island"].replace({"Dream": "Trèam"})  # a cp1252 byte: 0xE8
    path = tmp_path / "pinguine.csv"
    frame.to_csv(path, sep=";", decimal=",", encoding="cp1252", index=False, na_rep="NA",
                 lineterminator="\r\n")  # fmt: skip
    out = tmp_path / "s.json"
    assert cli.main(["scan", str(path), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"NOTE: {path}: read as ';'-separated, decimal comma, cp1252" in text
    assert "NOTE: feature 'sex': 11 cell(s) read as missing: 'NA' x11" in text
    result = json.loads(out.read_text())
    reference = pd.read_csv(path, sep=";", decimal=",", encoding="cp1252")
    for name in reference.columns:
        feat = result["features"][name]
        assert feat["missing"] == reference[name].isna().sum(), name
        if reference[name].dtype.kind == "f":
            assert feat["type"] == "FLOAT"
            np.testing.assert_allclose(feat["mean"], reference[name].mean(), rtol=1e-6)
    assert result["missing_spellings"]["sex"] == {"NA": 11}
    assert result["features"]["bill_length_mm"]["missing_spellings"] == {"NA": 2}
