"""scan.py: `nanguard scan`'s logic on CSV and TFRecords: exact counts, verdicts, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nanguard.components.data_guard import scan
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


def test_scan_header_only_csv_and_empty_folder_split_are_violations(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "e.csv").write_text("a,b\n")
    result = scan.scan_path(str(empty))
    assert result["rows"] == 0 and not result["blessed"]
    assert [(v["split"], v["kind"]) for v in result["violations"]] == [("all", "empty")]
    assert result["features"]["a"]["present"] == 0 and set(result["features"]) == {"a", "b"}


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


def test_string_in_numeric_column_is_input_error_naming_feature_file_and_value(tmp_path):
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = tmp_path / "d.csv"
    path.write_text('x,y\n1.5,a\n"multi\nline",b\n2.5,c\nabc,d\n')
    s = schema_pb2.Schema()
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    with pytest.raises(InputError) as info:
        scan.scan_path(str(path), schema=s)
    message = str(info.value)
    assert f"{path} (line 3)" in message  # the first string, counted in physical lines
    assert "feature 'x'" in message and "'multi\\nline'" in message


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
