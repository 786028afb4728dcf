"""components/inputs.py: the one CSV reader (Arrow): files, headers, missing cells, .csv.gz."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from nanguard.components import inputs
from nanguard.components.errors import InputError


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


def test_read_ahead_stops_its_worker_when_closed_early_and_raises_its_errors_in_order():
    produced = []

    def numbers():
        for i in range(100):
            produced.append(i)
            yield i

    ahead = inputs.read_ahead(numbers(), depth=2)
    assert next(ahead) == 0
    ahead.close()
    assert len(produced) <= 4  # at most `depth` waiting, one handed over, one being made
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]

    def failing():
        yield 1
        raise ValueError("boom")

    ahead = inputs.read_ahead(failing())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="boom"):
        next(ahead)
