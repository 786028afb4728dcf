"""CSV staging: missing tokens become empty cells, everything else stays as written."""

import csv
import os

import pandas as pd
import pytest

from nanguard.pipelines import data


def _staged_rows(out_dir):
    (name,) = os.listdir(out_dir)
    with open(os.path.join(out_dir, name), newline="") as f:
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
        (b"\xff\xfe\x00binary", "not a UTF-8"),
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
