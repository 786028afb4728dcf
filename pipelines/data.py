"""Input data: the bundled Palmer penguins and the staging of CSV files for CsvExampleGen.

CsvExampleGen reads an empty cell as a missing value, but real files spell missing many ways
(`NA`, `?`, `-`, `n/a`, `#N/A`, `NULL`, ...: `cells.MISSING_TOKENS` plus the data guard's
`missing_tokens`), and a token it does not know turns a numeric column into a string column.
Staging reads the user's CSV file(s) (a file, a folder of CSVs sharing one header, `.csv.gz`
decompressed) in their dialect (`components/csv_dialect.py`: `,` `;` tab `|`, decimal commas,
UTF-8/cp1252/latin-1, detected or forced by the data guard's `csv_*` keys), and writes the
canonical file CsvExampleGen reads (comma-separated UTF-8, decimal points): missing tokens as
empty cells, every other cell as written (decimal commas as points), and a record of how it
was read beside the folder (`record_path`); `nan`, `NaN`, `inf`, `-inf` and `Infinity` stay
as they are and arrive as float NaN and Inf. A numeric column holding stray strings
(`cells.stray_verdict`: the schema says
FLOAT/INT, or at least 90% of its non-missing cells are numbers) is never staged as text
silently: under `stray_strings: block` the run stops before the pipeline (GuardBlockedError,
exit 3) naming the feature, the tokens and their counts; under `treat_as_missing` those cells
are staged as empty cells and reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components import cells, csv_dialect, csv_types, inputs, vocab
from nanguard.components.data_guard.config import READING_KEYS, DataGuardConfig
from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.inputs import read_csv
from nanguard.components.names import tf_arg_name

# The staging record (`staging_record`) of the staged folder D is the file D + this suffix,
# beside the folder: CsvExampleGen reads every file inside D as CSV.
STAGING_RECORD = ".staging.json"
_RECORD_KEY = b"nanguard.staging"


def record_path(data_root: str) -> str:
    """Where the staging record of the staged folder `data_root` is (`D` -> `D.staging.json`)."""
    return os.path.normpath(data_root) + STAGING_RECORD


def read_record(data_root: str) -> dict[str, Any] | None:
    """The staging record of the staged folder `data_root` (None when there is none)."""
    try:
        with open(record_path(data_root), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def reading_from_run(root: str) -> DataGuardConfig:
    """The data guard reading keys a run used, from its staging record.

    `root` is a run's `--root` (its newest staging record), a staged folder, or a
    `*.staging.json` file.

    Raises:
      InputError: naming `--run`, when no staging record is there.
    """
    path = root
    if os.path.isdir(root) and os.path.isfile(os.path.normpath(root) + STAGING_RECORD):
        path = os.path.normpath(root) + STAGING_RECORD
    elif os.path.isdir(root):
        staging = os.path.join(root, "staging")
        found = sorted(
            (os.path.join(staging, n) for n in os.listdir(staging) if n.endswith(STAGING_RECORD)),
            key=os.path.getmtime,
        ) if os.path.isdir(staging) else []  # fmt: skip
        if not found:
            raise InputError(
                f"--run {root}: no staging record (staging/*{STAGING_RECORD}); pass the --root "
                "of a `nanguard run` that staged a CSV, or --config"
            )
        path = found[-1]
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        return DataGuardConfig.from_dict(record["reading"], f"--run {path}: reading")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"--run {path}: not a staging record ({e})") from e


__all__ = [
    "STAGING_RECORD",
    "InputError",
    "bundled_penguins_csv",
    "read_csv",
    "read_data",
    "read_record",
    "record_path",
    "stage_csv",
    "staging_record",
    "stray_strings",
    "write_staged",
]


def bundled_penguins_csv() -> str:
    """Path of `penguins.csv` (344 rows, real gaps) shipped by the `palmerpenguins` package."""
    return str(resources.files("palmerpenguins") / "data" / "penguins.csv")


def _schema_kinds(schema_path: str | None) -> Mapping[str, str]:
    """Feature name -> FLOAT / INT / STRING from a text schema ({} without one)."""
    if not schema_path:
        return {}
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from nanguard.components.data_guard.schema import feature_kinds

    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
    except (OSError, UnicodeDecodeError, text_format.ParseError) as e:
        raise InputError(f"--schema {schema_path}: cannot be read as a schema ({e})") from e
    return feature_kinds(schema)


def stray_strings(
    table: pa.Table,
    schema_kinds: Mapping[str, str] | None = None,
    text_features: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """The numeric columns of a string table that hold stray strings (`csv_types.find_strays`).

    Returns:
      `{column: {"tokens": {token: count}, "count": all stray cells, "why": str}}`.
    """
    found = csv_types.find_strays(table, schema_kinds, text_features)
    return {n: {"tokens": v.tokens, "count": v.count, "why": v.why} for n, v in found.items()}


def check_example_gen_header(names: list[str], where: str) -> None:
    """InputError for a column name CsvExampleGen cannot read back, naming its position.

    TFX reads a CSV's column names by splitting the first line on commas after stripping it
    (`load_csv_column_names`): a name holding a comma, a quote or a line break, and space at
    the start of the first name or the end of the last, would come back as other names. Two
    names that TensorFlow's saved-function parameter names merge (`names.tf_arg_name`: `a.b`
    and `a_b`) would make a model that saves but does not load: refused too, naming both.
    """
    for position, name in enumerate(names, start=1):
        bad = next((c for c in (",", '"', "\n", "\r") if c in name), None)
        edge = (position == 1 and name != name.lstrip()) or (
            position == len(names) and name != name.rstrip()
        )
        if bad or edge:
            what = f"holds {bad!r}" if bad else "starts or ends with a space"
            raise InputError(
                f"{where}: column {position} ({name!r}) {what}, which CsvExampleGen cannot read "
                "from a header line; rename the column (scan reads it as it is)."
            )
    seen: dict[str, tuple[int, str]] = {}
    for position, name in enumerate(names, start=1):
        arg = tf_arg_name(name)
        if arg in seen:
            first, other = seen[arg]
            raise InputError(
                f"{where}: columns {first} ({other!r}) and {position} ({name!r}) differ only in "
                f"characters TensorFlow turns into '_' in a saved model's input names (both "
                f"{arg!r}): the exported model could not be loaded; rename one of them."
            )
        seen[arg] = (position, name)


def read_data(
    path: str,
    config: DataGuardConfig | None = None,
    schema_path: str | None = None,
    flag: str = "--data",
) -> tuple[pa.Table, list[str]]:
    """Reads the CSV file(s) at `path` for staging: missing tokens null, stray strings judged.

    The file's dialect (delimiter, decimal mark, encoding) comes from the config's `csv_*`
    keys, `auto` ones detected per file; decimal commas are read as points. Which missing
    spellings were read per column, and how often, is counted (vectorised).

    Args:
      path: A CSV file (`.csv`, `.csv.gz`) or a folder of them sharing one header.
      config: The data guard config: the reading keys, `missing_tokens`, `stray_strings`,
        `mode` (defaults).
      schema_path: The curated schema (`--schema`), whose FLOAT/INT features are numeric.
      flag: The flag `path` came from, for messages.

    Returns:
      `(table, notes)`: the string table to stage, and one line per finding (the dialect when
      it is not plain UTF-8 commas, a header that looks like one column, columns whose stray
      strings were read as missing; under mode 'warn', what `block` would have stopped). The
      table carries the staging record (`staging_record`) that `write_staged` writes.

    Raises:
      InputError: naming the file (and column position): unreadable, a bad header, no data row.
      GuardBlockedError: `stray_strings: block` with mode 'fail' and a numeric column holding
        stray strings; the message names every such feature, its tokens and their counts.
    """
    config = config or DataGuardConfig()
    dialect = config.dialect()
    files = inputs.csv_files(path, flag)
    spellings: dict[str, dict[str, int]] = {}
    table = inputs.read_csv_files(
        files, flag=flag, where=path, missing=config.missing_values(), dialect=dialect,
        spellings=spellings,
    )  # fmt: skip
    if table.num_columns == 1:  # one column holding `;` or runs of spaces: misread
        found = inputs.dialect_of(files[0], dialect)
        wrong = csv_dialect.header_note(files[0], table.column_names, found)
        if wrong:
            raise InputError(wrong)
    check_example_gen_header(table.column_names, f"{flag} {path}")
    notes = inputs.header_notes(files, dialect)
    found = csv_types.find_strays(table, _schema_kinds(schema_path), config.text_features)
    messages = {
        name: (
            f"feature {name!r} in {flag} {path}: {v.count} cell(s) that are not numbers in a "
            f"numeric column ({v.why}): {v.describe()}"
        )
        for name, v in found.items()
    }
    action = "none"
    if found and config.stray_strings == "treat_as_missing":
        columns = [
            cells.null_strays(column) if name in found else column
            for name, column in zip(table.column_names, table.columns, strict=True)
        ]
        table = pa.table(columns, names=table.column_names)
        action = "read_as_missing"
        notes += [
            f"{m}; read as missing (stray_strings: treat_as_missing)" for m in messages.values()
        ]
    elif found and config.mode == "fail":
        raise GuardBlockedError(
            "stray strings in numeric columns (stray_strings: block): "
            + "; ".join(messages.values())
            + "; fix or blank those cells, add a missing spelling to data_guard.missing_tokens, "
            "or set data_guard.stray_strings: treat_as_missing."
        )
    elif found:
        action = "staged_as_written"
        notes += [f"{m}; staged as written (mode warn)" for m in messages.values()]
    record = staging_record(path, files, config, schema_path, table, spellings, found, action)
    record["notes"] = notes
    return _with_record(table, record), notes


def staging_record(
    path: str,
    files: list[str],
    config: DataGuardConfig,
    schema_path: str | None,
    table: pa.Table,
    spellings: Mapping[str, Mapping[str, int]],
    strays: Mapping[str, cells.StrayVerdict],
    action: str,
) -> dict[str, Any]:
    """What staging read and how: the record written beside the staged folder (`record_path`).

    Keys: `source` (the --data path), `files`, `rows`, `columns`, `dialect` (per file:
    delimiter, decimal, encoding as read), `reading` (the data guard's reading keys as asked:
    `csv_delimiter`, `csv_decimal`, `csv_encoding`, `missing_tokens`,
    `default_missing_tokens`, `stray_strings`, `text_features`; what `check-model --run`
    reads with), `missing_values` (every spelling read as missing), `missing_spellings`
    (`{column: {spelling: count}}`, columns with at least one), `stray_strings` (`{column:
    {count, tokens, tokens_exact, why, action}}`, action `read_as_missing` or
    `staged_as_written`), `schema` (the --schema path or null), `notes`.
    """
    return {
        "source": os.path.abspath(path),
        "files": [os.path.abspath(f) for f in files],
        "rows": table.num_rows,
        "columns": table.column_names,
        "dialect": {
            os.path.abspath(f): inputs.dialect_of(f, config.dialect()).to_dict() for f in files
        },
        "reading": {key: getattr(config, key) for key in READING_KEYS},
        "missing_values": list(config.missing_values()),
        "missing_spellings": {name: dict(c) for name, c in spellings.items() if c},
        "stray_strings": {
            name: {
                "count": v.count,
                "tokens": v.tokens,
                "tokens_exact": v.exact,
                "why": v.why,
                "action": action,
            }  # fmt: skip
            for name, v in strays.items()
        },
        "schema": schema_path and os.path.abspath(schema_path),
    }


def with_notes(table: pa.Table, notes: list[str], **entries: Any) -> pa.Table:
    """`table` (from `read_data`) with `notes` added to its staging record's notes, and
    `entries` set as keys of the record (e.g. `label_as_classes`, the note of a numeric label
    that `task: auto` read as classes)."""
    record = json.loads((table.schema.metadata or {}).get(_RECORD_KEY) or b"{}")
    record["notes"] = [*record.get("notes", []), *notes]
    record.update(entries)
    return _with_record(table, record)


def _with_record(table: pa.Table, record: Mapping[str, Any]) -> pa.Table:
    """The table carrying `record` in its schema metadata (read back by `write_staged`)."""
    return table.replace_schema_metadata({_RECORD_KEY: json.dumps(record)})


def _quote(column: pa.Array) -> pa.Array:
    """CSV-quotes only the cells that need it; CsvExampleGen takes a quoted header literally."""
    needs = pc.match_substring_regex(column, r'[,"\n\r]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


def _to_csv_bytes(table: pa.Table) -> bytes:
    """Writes a table of strings as CSV, nulls as empty cells, quoting only where required."""
    header = ",".join(_quote(pa.array(table.column_names)).to_pylist())
    columns = [_quote(pc.fill_null(c.combine_chunks(), "")) for c in table.columns]
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    return ("\n".join([header, *lines.to_pylist()]) + "\n").encode("utf-8")


def write_staged(table: pa.Table, out_dir: str) -> str:
    """Writes `table` as `out_dir/data.csv`, missing values as empty cells. Returns `out_dir`.

    The file is what CsvExampleGen reads: comma-separated UTF-8, decimal points, `\\n` line
    ends. A table from `read_data` also gets its staging record, `record_path(out_dir)`
    (`out_dir` + `.staging.json`, beside the folder).

    `out_dir` must be new or empty: staging never replaces or deletes a file, so a folder that
    already holds anything (the user's data folder, an earlier run's staging) is refused.
    """
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        raise InputError(
            f"{out_dir}: staging needs a new or empty folder and this one holds files; "
            "nanguard never overwrites or deletes files it finds"
        )
    path = os.path.join(out_dir, "data.csv")
    record = (table.schema.metadata or {}).get(_RECORD_KEY)
    try:
        with open(path, "xb") as f:
            f.write(_to_csv_bytes(table))
        if record is not None:
            with open(record_path(out_dir), "x", encoding="utf-8") as f:
                f.write(vocab.dumps(json.loads(record), indent=1))
    except OSError as e:
        raise InputError(
            f"{path}: the staged data could not be written ({e.strerror}); free space or pass "
            "another --root"
        ) from e
    return out_dir


def stage_csv(
    path: str,
    out_dir: str,
    config: DataGuardConfig | None = None,
    schema_path: str | None = None,
) -> str:
    """Copies the CSV file(s) at `path` into the new folder `out_dir`, missing tokens as empty.

    Returns `out_dir`. See `read_data` (stray strings, GuardBlockedError) and `write_staged`.
    """
    return write_staged(read_data(path, config, schema_path)[0], out_dir)
