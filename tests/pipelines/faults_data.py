"""Helpers of the fault matrix and the CSV fuzzer (tests/pipelines/test_faults.py, test_fuzz.py,
benchmarks/fuzz.py).

- The serving folder's snapshot (`serving_snapshot`) and the check that a pushed model is intact
  (`assert_serving_intact`): every file the snapshot holds is still there with the same size,
  mtime and bytes, nothing else appears but new version folders where a run may push, and the
  model loads and predicts finite values through `serving_default` on a few raw rows.
- The fuzzer: `random_csv(seed)` writes a random CSV (bytes); `reference(data)` says, with
  Python's csv module and float() only, whether nanguard must accept it and what it must count
  per column; `check_case(seed, folder)` runs `nanguard scan --json` (in-process) and the staging
  of `nanguard run` on it and returns the disagreements.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import sys

import numpy as np

from nanguard.components.cells import MISSING_TOKENS as MISSING  # the documented set

# ---------------------------------------------------------------------------------------------
# The serving folder.
# ---------------------------------------------------------------------------------------------


def serving_snapshot(folder) -> dict[str, tuple[int, int, str]]:
    """`{relative path: (size, mtime_ns, sha256)}` of every file under `folder`."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            stat = os.stat(path)
            out[os.path.relpath(path, folder)] = (stat.st_size, stat.st_mtime_ns, digest)
    return out


def raw_examples(n: int = 6) -> list[bytes]:
    """The first `n` bundled penguins rows as raw tf.Examples (the label left out)."""
    import tempfile

    import pandas as pd

    from nanguard.pipelines import data
    from tests.pipelines.test_e2e import serialized_examples

    frame = pd.read_csv(data.bundled_penguins_csv()).head(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.csv")
        frame.to_csv(path, index=False)
        return serialized_examples(path, "species")


def predict(model_dir, examples: list[bytes]) -> np.ndarray:
    """`serving_default` of the SavedModel at `model_dir` on serialized examples."""
    import tensorflow as tf

    model = tf.saved_model.load(str(model_dir))
    outputs = model.signatures["serving_default"](examples=tf.constant(examples))
    return outputs["outputs"].numpy()


def version_folders(serving_dir) -> list[str]:
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


_PREDICTED: set[str] = set()  # digests of version folders already loaded and predicted


def assert_serving_intact(pushed, allow_new_versions: bool = False, load: bool = True) -> None:
    """The model `pushed` recorded is still in its serving folder, unchanged, and predicts.

    `pushed` has `serving_dir`, `version` and `snapshot` (see tests/pipelines/conftest.py).
    With `allow_new_versions`, new top-level version folders may have appeared (a run that
    pushed); any other new or changed file fails. The model is loaded with
    `tf.saved_model.load` and predicts finite values on raw rows once per distinct content of
    its folder (sha256 of every file): a folder byte for byte identical to one that loaded and
    predicted loads and predicts the same (each load costs ~10 s on these machines).
    """
    now = serving_snapshot(pushed.serving_dir)
    changed = {p for p, facts in pushed.snapshot.items() if now.get(p) != facts}
    assert not changed, f"files of the pushed model changed or went: {sorted(changed)}"
    new = sorted(set(now) - set(pushed.snapshot))
    if allow_new_versions:
        old_versions = {p.split(os.sep)[0] for p in pushed.snapshot}
        new = [p for p in new if p.split(os.sep)[0] in old_versions or os.sep not in p]
    assert not new, f"unexpected new files in the serving folder: {new}"
    digest = hashlib.sha256(repr(sorted(now.items())).encode()).hexdigest()
    if load and digest not in _PREDICTED:
        outputs = predict(os.path.join(pushed.serving_dir, pushed.version), pushed.examples)
        assert outputs.shape == (len(pushed.examples), 3), outputs.shape
        assert np.isfinite(outputs).all(), outputs
        _PREDICTED.add(digest)


# ---------------------------------------------------------------------------------------------
# The fuzzer: random CSVs and their independent counts.
# ---------------------------------------------------------------------------------------------

_NAMES = [
    "a",
    "b",
    "x1",
    "bill length",
    " padded ",
    "größe",
    "列名",
    "naïve",
    "NA",
    "nan",
    "weight(kg)",
    "a,b",
    'say "hi"',
    "emoji🐧",
]
_TOKENS = ["", "NA", "null", "None", "nan", "NaN", "-nan", "inf", "-inf", "Infinity"]
_TOKENS += ["-Infinity", "+inf", "?", "N/A", "none", "NULL", "INF", "  "]
_HUGE = ["1e300", "-1e300", "3.5e38", "3.5e+38", "-1e39", "1e19", "2e19", "1.7976931348623157e308"]
_TINY = ["1e-300", "-1e-320", "5e-324", "1e-45", "0.0", "-0.0"]
_WORDS = ["Adelie", "Gentoo", "Torgersen", "é", "日本", "x y", "a,b", 'q"uote', "line\nbreak"]
_WORDS += ["tab\there", "café", "ß", 'comma, and "quote"', "cr\r\nlf"]


def _number(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        return str(int(rng.integers(-10000, 10000)))
    if r < 0.7:
        return repr(float(rng.normal(0, 10.0 ** rng.integers(-3, 6))))
    if r < 0.8:
        return f"{rng.normal():.3e}"
    if r < 0.9:
        return _HUGE[rng.integers(len(_HUGE))]
    if r < 0.97:
        return _TINY[rng.integers(len(_TINY))]
    return str(int(rng.integers(0, 2**62)) * 10)  # sometimes beyond int64


def _cell(rng: np.random.Generator, kind: str) -> str:
    r = rng.random()
    if r < 0.15:
        return _TOKENS[rng.integers(len(_TOKENS))]
    if kind == "int":
        return str(int(rng.integers(-1000, 1000))) if rng.random() < 0.95 else "+7"
    if kind == "float":
        return _number(rng)
    if kind == "string":
        return _WORDS[rng.integers(len(_WORDS))]
    return _number(rng) if rng.random() < 0.8 else _WORDS[rng.integers(len(_WORDS))]


def _quoted(cell: str, rng: np.random.Generator) -> str:
    if any(c in cell for c in ',"\n\r') or rng.random() < 0.08:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def random_csv(seed: int) -> bytes:
    """A random CSV file's bytes: odd headers, mixed types, tokens, encodings, ragged rows."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.01:
        return b""
    ncols = int(rng.integers(1, 7))
    names = [_NAMES[i] for i in rng.choice(len(_NAMES), size=ncols, replace=False)]
    if rng.random() < 0.04:
        names[int(rng.integers(ncols))] = ""  # an empty header cell
    if ncols > 1 and rng.random() < 0.04:
        names[-1] = names[0]  # a duplicate header
    kinds = [str(rng.choice(["int", "float", "string", "mixed"])) for _ in names]
    nrows = int(rng.integers(0, 25)) if rng.random() > 0.05 else 0
    ragged = rng.random() < 0.05
    lines = [",".join(_quoted(n, rng) for n in names)]
    for _ in range(nrows):
        cells = [_cell(rng, k) for k in kinds]
        if ragged and rng.random() < 0.3:
            cells = cells[:-1] if (rng.random() < 0.5 and len(cells) > 1) else cells + ["1"]
        lines.append(",".join(_quoted(c, rng) for c in cells))
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    text = newline.join(lines) + (newline if rng.random() < 0.9 else "")
    r = rng.random()
    if r < 0.1:
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    if r < 0.2:
        return text.encode("latin-1", errors="replace")
    return text.encode("utf-8")


class Rejected(Exception):
    """`reference` says nanguard must refuse the file (exit 2 / InputError)."""


def _kind(values: list[str]) -> str:
    """tfx-bsl's CSV type rule (CsvExampleGen): INT if all int64, else FLOAT, else STRING."""
    if not values:
        return "null"
    kinds = set()
    for v in values:
        try:
            number = int(v)
            kinds.add("int" if -(2**63) <= number < 2**63 else "string")
            continue
        except ValueError:
            pass
        try:
            float(v)
            kinds.add("float")
        except ValueError:
            kinds.add("string")
    return "string" if "string" in kinds else ("float" if "float" in kinds else "int")


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _decode(data: bytes) -> str:
    """As a spreadsheet's file is read: UTF-8, else cp1252 (Excel on Windows), else latin-1."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def reference(data: bytes) -> tuple[list[str], list[list[str]], dict[str, dict[str, int]]]:
    """`(header, rows, counts)` by Python's csv module and float(); Rejected if not valid.

    counts: `{column: {"missing", "nan", "pos_inf", "neg_inf"}}`, floats taken as float32 (a
    FLOAT column's 1e300 is +Inf, as in tf.Example); `counts[column]["strings_in_numbers"]` is
    True for a text column of which at least 90% but not all values are numbers (the data
    guard's `MOSTLY_NUMERIC_FRACTION`: `scan` refuses it with exit 2, naming the value; staging
    takes it). Empty lines are skipped (as Arrow does). An empty first header name (or
    `rownames`, `Unnamed: 0`) over other names is row names: that column is left out (as
    pandas' `index_col=0` reads it).
    """
    text = _decode(data).removeprefix("\ufeff")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not rows:
        raise Rejected("empty file")
    header, rows = rows[0], rows[1:]
    if len(header) > 1 and header[0].strip() in ("", "rownames", "Unnamed: 0"):  # row names
        if any(len(r) != len(header) for r in rows):
            raise Rejected("ragged row")
        header, rows = header[1:], [r[1:] for r in rows]
    if any(not n.strip() for n in header):
        raise Rejected("empty header name")
    if len(set(header)) != len(header):
        raise Rejected("duplicate header name")
    if any(len(r) != len(header) for r in rows):
        raise Rejected("ragged row")
    counts = {}
    for i, name in enumerate(header):
        cells = [r[i] for r in rows]
        present = [c for c in cells if c not in MISSING]
        c = {"missing": len(cells) - len(present), "nan": 0, "pos_inf": 0, "neg_inf": 0}
        if _kind(present) == "float":
            with np.errstate(over="ignore"):
                values = [float(np.float32(float(v))) for v in present]
            c["nan"] = sum(math.isnan(v) for v in values)
            c["pos_inf"] = sum(v == math.inf for v in values)
            c["neg_inf"] = sum(v == -math.inf for v in values)
        numbers = sum(_is_number(v) for v in present)
        c["strings_in_numbers"] = 0.9 * len(present) <= numbers < len(present)
        counts[name] = c
    return header, rows, counts


def _staged_rows(path: str) -> tuple[list[str], list[list[str]]]:
    """The staged file's header and rows; in a one-column file a missing cell is an empty
    line, read back as one empty cell."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [r or [""] for r in rows[1:]]


def check_case(seed: int, folder: str) -> list[str]:
    """Runs one fuzz case in `folder`; returns what went wrong (empty: the case passed).

    Checks: `nanguard scan --json` ends in 0, 2 or 3, never raises; it exits 2 exactly when
    `reference` rejects the file, else its per-column missing/NaN/+Inf/-Inf counts equal the
    reference's; staging (`read_csv` + `write_staged`) raises only InputError, exactly for the
    files the reference rejects or that have no data row, else writes the reference's cells with
    missing tokens as empty cells.
    """
    from nanguard.components.errors import InputError
    from nanguard.pipelines import cli
    from nanguard.pipelines import data as data_lib

    problems = []
    data = random_csv(seed)
    path = os.path.join(folder, f"case{seed}.csv")
    with open(path, "wb") as f:
        f.write(data)
    try:
        header, rows, counts = reference(data)
        rejected = None
        scan_rejected = None if rows else "no data rows"
        # A numeric column with strings is a "type" violation of scan (exit 0 without --check).
        typed = [n for n, c in counts.items() if c.pop("strings_in_numbers")]
    except Rejected as e:
        rejected = scan_rejected = str(e)
    out = os.path.join(folder, f"case{seed}.json")
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            # The reference models stray_strings: block (the column read as text, a "type"
            # violation); the default reads them as missing (tests/pipelines/test_data.py).
            block = ["--policy", '{"stray_strings": "block"}']
            code = cli.main(["scan", path, "--json", out, *block])
    except BaseException as e:  # noqa: BLE001 - the finding itself
        code = None
        problems.append(f"scan raised {type(e).__name__}: {e}")
    if code is not None and code not in (0, 2, 3):
        problems.append(f"scan exit {code}: {stderr.getvalue().strip()[-300:]}")
    elif scan_rejected and code is not None and code != 2:
        problems.append(f"scan exit {code}, reference rejects it ({scan_rejected})")
    elif not scan_rejected and code != 0 and code is not None:
        problems.append(f"scan exit {code}, reference accepts it: {stderr.getvalue().strip()}")
    elif not scan_rejected and code == 0:
        with open(out, encoding="utf-8") as f:
            result = json.load(f)
        flagged = sorted(v["feature"] for v in result["violations"] if v["kind"] == "type")
        if flagged != sorted(typed):
            problems.append(f"scan type violations {flagged} != reference {sorted(typed)}")
        if result["rows"] != len(rows):
            problems.append(f"scan rows {result['rows']} != reference {len(rows)}")
        if list(result["features"]) != header and set(result["features"]) != set(header):
            problems.append(f"scan columns {list(result['features'])} != {header}")
        for name, expected in counts.items():
            got = result["features"].get(name, {})
            got = {k: got.get(k) for k in expected}
            if got != expected:
                problems.append(f"column {name!r}: scan {got} != reference {expected}")
    staged = os.path.join(folder, f"staged{seed}")
    try:
        table = data_lib.read_csv(path)
        data_lib.write_staged(table, staged)
        ok = True
    except InputError:
        ok = False
    except BaseException as e:  # noqa: BLE001 - the finding itself
        ok = None
        problems.append(f"staging raised {type(e).__name__}: {e}")
    if ok is not None:
        if rejected or not rows:
            if ok:
                problems.append(f"staging accepted a file the reference rejects ({rejected})")
        elif not ok:
            problems.append("staging refused a file the reference accepts")
        else:
            got_header, got_rows = _staged_rows(os.path.join(staged, "data.csv"))
            want = [["" if c in MISSING else c for c in r] for r in rows]
            if got_header != header:
                problems.append(f"staged header {got_header} != {header}")
            elif got_rows != want:
                pairs = enumerate(zip(got_rows, want, strict=False))
                bad = next((i for i, (g, w) in pairs if g != w), min(len(got_rows), len(want)))
                problems.append(
                    f"staged row {bad}: {got_rows[bad : bad + 1]} != {want[bad : bad + 1]}"
                )
    return problems


def run_cases(seeds, folder: str, log=sys.stdout) -> dict[int, list[str]]:
    """`{seed: problems}` for every failing seed among `seeds`."""
    import shutil

    failures = {}
    for seed in seeds:
        case_dir = os.path.join(folder, str(seed))
        os.makedirs(case_dir)
        problems = check_case(seed, case_dir)
        if problems:
            failures[seed] = problems
            print(f"seed {seed}: {problems}", file=log)
        else:
            shutil.rmtree(case_dir)
    return failures
