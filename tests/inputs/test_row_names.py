"""A header whose first name is empty (pandas' `to_csv()` index, R's `write.csv()` row names),
`rownames` (the Rdatasets CSVs) or `Unnamed: 0` (pandas' index read back), or one name short of
the rows (R's `write.table()`): that column is row names, left out alike by `run`'s staging,
`scan` and `check-model`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nanguard.components import inputs
from nanguard.components.data_guard import scan
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.gate import csv_rows
from nanguard.pipelines import data

NOTE = "column 1 of the header has no name: read as row names"
SHORT = "the header names one column fewer than the rows hold (R's write.table)"
NAMED = "column 1 of the header is {}: read as row names"


@pytest.fixture
def frame():
    """Real-world shape: string row names, a gap in each kind of column."""
    return pd.DataFrame(
        {
            "education": [13.11, 12.26, np.nan, 11.44],
            "income": [12351, 25879, 9271, np.nan],
            "type": ["prof", None, "prof", "bc"],
        },
        index=["gov.administrators", "general.managers", "accountants", "purchasing.officers"],
    )


@pytest.fixture(params=["pandas", "r", "r_table", "rdatasets", "pandas_reread"])
def path(request, frame, tmp_path):
    """As pandas writes it (BOM, CRLF, an empty first cell), as R's write.csv does (every cell
    quoted), as R's write.table does by default (space-separated, no name over the row names),
    as the Rdatasets site writes it (R's row names under `rownames`), or as pandas writes a
    file it read back without `index_col` (`Unnamed: 0`)."""
    out = tmp_path / f"{request.param}.csv"
    if request.param == "pandas":
        frame.to_csv(out, encoding="utf-8-sig", lineterminator="\r\n")
    elif request.param in ("rdatasets", "pandas_reread"):
        name = "rownames" if request.param == "rdatasets" else "Unnamed: 0"
        frame.rename_axis(name).reset_index().to_csv(out, index=False)
    else:
        sep = " " if request.param == "r_table" else ","
        lines = [sep.join(f'"{n}"' for n in ([] if sep == " " else [""]) + list(frame.columns))]
        for name, row in frame.iterrows():
            cells = [
                "NA" if pd.isna(v) else f'"{v}"' if isinstance(v, str) else str(v) for v in row
            ]
            lines.append(sep.join([f'"{name}"', *cells]))
        out.write_text("\n".join(lines) + "\n")
    return str(out)


def _note(path: str) -> str:
    if path.endswith("rdatasets.csv"):
        return NAMED.format("'rownames'")
    if path.endswith("pandas_reread.csv"):
        return NAMED.format("'Unnamed: 0'")
    return SHORT if path.endswith("r_table.csv") else NOTE


def test_the_header_leaves_row_names_out_and_notes_it(path):
    assert inputs.read_header(path) == ["education", "income", "type"]
    assert inputs.csv_header([path]) == ["education", "income", "type"]
    notes = inputs.header_notes([path])
    if _note(path) == SHORT:
        assert [n for n in notes if "row names" in n] == [
            f"{path}: {SHORT}: column 1 read as row names and left out; name it in the header "
            "to use it as a feature"
        ]
        assert inputs.dialect_of(path).to_dict() == {
            "delimiter": " ", "decimal": ".", "encoding": "utf-8", "short_header": True,
        }  # fmt: skip
        return
    if _note(path) != NOTE:
        assert [n for n in notes if "row names" in n] == [
            f"{path}: {_note(path)} (R's row names as the Rdatasets CSVs name them, pandas' "
            "index read back) and left out; rename it to use it as a feature"
        ]
        return
    assert [n for n in notes if NOTE in n] == [
        f"{path}: {NOTE} (pandas' index, R's row names) and left out; name it to use it as a "
        "feature"
    ]


def test_staging_scan_and_check_model_read_the_same_columns_and_gaps(path, frame, tmp_path):
    sep = " " if _note(path) == SHORT else ","
    reference = pd.read_csv(path, index_col=0, encoding="utf-8-sig", sep=sep)
    table, notes = data.read_data(path)
    assert table.column_names == list(reference.columns) == list(frame.columns)
    assert any(_note(path) in n for n in notes)
    for name in frame.columns:
        assert table.column(name).null_count == int(reference[name].isna().sum()) == 1, name
    staged = pd.read_csv(data.write_staged(table, str(tmp_path / "staged")) + "/data.csv")
    assert list(staged.columns) == list(frame.columns)
    np.testing.assert_allclose(staged["income"], reference["income"])

    found = scan.scan_path(path)
    assert sorted(found["features"]) == sorted(frame.columns)
    assert {n: f["missing"] for n, f in found["features"].items()} == {
        "education": 1, "income": 1, "type": 1,
    }  # fmt: skip
    assert found["features"]["income"]["mean"] == pytest.approx(reference["income"].mean())
    assert any(_note(path) in n for n in found["notes"])

    rows = csv_rows.read_rows(path, DataGuardConfig())
    assert rows.table.column_names == list(frame.columns)
    assert rows.table.column("income").to_pylist()[:3] == [12351, 25879, 9271]


def test_streamed_batches_leave_row_names_out(path):
    names = inputs.csv_header([path])
    batches = list(inputs.csv_text_batches([path], names))
    assert [b.schema.names for b in batches] == [names]
    assert batches[0].column(0).to_pylist() == ["13.11", "12.26", None, "11.44"]


@pytest.mark.parametrize("header, position", [(",a,,c", 3), ("a,,c", 2), (",", 2), (",a,a", 3)])
def test_only_a_leading_empty_name_over_named_columns_is_row_names(tmp_path, header, position):
    """An empty name elsewhere, a second empty name, a header of empty names or a repeated
    name is still an error naming its position in the file."""
    path = tmp_path / "h.csv"
    path.write_text(f"{header}\n" + ",".join("1" * (header.count(",") + 1)) + "\n")
    with pytest.raises(inputs.HeaderError, match=rf"\b{position} (of the header has no name|are)"):
        inputs.read_header(str(path))
