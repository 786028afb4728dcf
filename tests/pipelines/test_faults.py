"""The fault and bad-input matrix (issue #11, item 4).

Every case asserts its exit code, the words of its message (the file, column, flag or key it
names) and that the model pushed before (the `pushed` fixture, tests/pipelines/conftest.py) is
still in the serving folder, unchanged, loads and predicts finite values on raw rows. Cases that
stop before the pipeline call `cli.main` in-process against the same root and serving folder;
the few that need a process of their own (a lock held by another process, a file-size limit)
or a pipeline (marked e2e) run `nanguard run` as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nanguard.components import vocab
from nanguard.pipelines import cli
from nanguard.pipelines import data as data_lib
from tests.pipelines import faults_data
from tests.pipelines.conftest import NANGUARD, TRAIN_STEPS, blocked_text

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "penguins.pbtxt")
EXIT_OK, EXIT_USAGE, EXIT_BLOCKED = vocab.EXIT_OK, vocab.EXIT_USAGE, vocab.EXIT_BLOCKED


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def staging_folders(pushed) -> list[str]:
    folder = os.path.join(pushed.root, "staging")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def write(path, content: bytes | str) -> str:
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


BLOCK_STRAYS = ("--policy", '{"stray_strings": "block"}')  # the default reads them as missing


def scan_json(capsys, path: str, tmp_path, *flags: str) -> dict:
    out = str(tmp_path / "scan.json")
    code, text = run_cli(capsys, "scan", path, "--json", out, *flags)
    assert code == 0, text
    with open(out, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Bad --data files: exit 2 naming the file, nothing staged, the pushed model untouched.
# ---------------------------------------------------------------------------------------------

BINARY = bytes(range(256)) * 8

DATA_CASES = {
    "empty_file": (b"", "the file is empty"),
    "too_few_fields": ("a,b,c\n1,2,3\n4,5\n", "Expected 3 columns, got 2"),
    "too_many_fields": ("a,b,c\n1,2,3\n4,5,6,7\n", "Expected 3 columns, got 4"),
    "duplicate_header": ("a,b,a\n1,2,3\n", "columns 1 and 3 are both named 'a'"),
    "empty_header_cell": ("a,,c\n1,2,3\n", "column 2 of the header has no name"),
    "blank_header_cell": ("a,  ,c\n1,2,3\n", "column 2 of the header has no name"),
    "binary_file": (BINARY, "not a text file (it holds control bytes)"),
    # A latin-1 / cp1252 file is no longer bad input: it is read (tests/inputs/test_dialect.py).
    "gzip_file": (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + bytes(range(128, 256)),
        "not a text file (it holds control bytes)",
    ),
    "header_only": ("species,x\n", "no data rows"),
    "header_only_no_newline": ("species,x", "no data rows"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_file_exits_2_naming_the_file(pushed, tmp_path, capsys, case):
    content, words = DATA_CASES[case]
    path = write(tmp_path / f"{case}.csv", content)
    before = staging_folders(pushed)
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", path, "--label", "species")
    assert code == EXIT_USAGE, text
    assert path in text and words in text, text
    assert "Traceback" not in text
    assert staging_folders(pushed) == before
    faults_data.assert_serving_intact(pushed)


def test_binary_data_file_message_says_not_text_and_echoes_no_bytes(pushed, tmp_path, capsys):
    path = write(tmp_path / "binary.csv", BINARY)
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", path)
    assert code == EXIT_USAGE
    assert "not a UTF-8 text file" in text or "not a text file" in text, text
    assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)
    faults_data.assert_serving_intact(pushed)


def test_folder_with_only_a_readme_exits_2_for_run_and_scan(pushed, tmp_path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / "README.md", "# not data\n")
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", str(folder))
    assert code == EXIT_USAGE
    assert f"--data {folder}: the folder holds no .csv file" in text, text
    code, text = run_cli(capsys, "scan", str(folder))
    assert code == EXIT_USAGE
    assert f"{folder}: the folder holds no .csv file and no TFRecord" in text, text
    faults_data.assert_serving_intact(pushed)


def test_files_with_different_headers_exit_2_naming_both(pushed, tmp_path, capsys):
    folder = tmp_path / "parts"
    folder.mkdir()
    first = write(folder / "a.csv", "species,x\nAdelie,1\n")
    second = write(folder / "b.csv", "species,y\nAdelie,1\n")
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", str(folder))
    assert code == EXIT_USAGE
    assert f"{second}: header ['species', 'y'] differs from ['species', 'x'] in {first}" in text
    faults_data.assert_serving_intact(pushed)


def test_missing_data_path_exits_2(pushed, tmp_path, capsys):
    path = str(tmp_path / "nowhere.csv")
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", path)
    assert code == EXIT_USAGE
    assert f"--data {path}: no such file or folder" in text
    faults_data.assert_serving_intact(pushed)


def test_header_only_csv_exits_2_for_scan_and_run(pushed, tmp_path, capsys):
    """A header without rows: the same answer from `scan` and from `run`'s staging (exit 2)."""
    path = write(tmp_path / "header.csv", "species,x\n")
    code, text = run_cli(capsys, "scan", path, "--check")
    assert code == EXIT_USAGE
    assert f"{path}: no data rows" in text, text
    code, text = run_cli(capsys, "run", *pushed.flags(), "--data", path)
    assert code == EXIT_USAGE
    assert "no data rows" in text, text
    faults_data.assert_serving_intact(pushed)


# ---------------------------------------------------------------------------------------------
# Odd but valid CSVs: accepted by `scan` (counted right) and by the staging of `run`.
# ---------------------------------------------------------------------------------------------


def staged(path: str, tmp_path) -> str:
    """What staging writes for `path` (the file `run` hands to CsvExampleGen)."""
    folder = data_lib.write_staged(data_lib.read_csv(path), str(tmp_path / "staged"))
    with open(os.path.join(folder, "data.csv"), encoding="utf-8") as f:
        return f.read()


def test_byte_order_mark_is_skipped(pushed, tmp_path, capsys):
    path = write(tmp_path / "bom.csv", b"\xef\xbb\xbfspecies,x\nAdelie,1.5\nGentoo,NA\n")
    result = scan_json(capsys, path, tmp_path)
    assert list(result["features"]) == ["species", "x"]
    assert result["rows"] == 2 and result["features"]["x"]["missing"] == 1
    assert result["features"]["x"]["type"] == "FLOAT"
    assert staged(path, tmp_path) == "species,x\nAdelie,1.5\nGentoo,\n"
    faults_data.assert_serving_intact(pushed)


def test_quoted_numbers_are_numbers(pushed, tmp_path, capsys):
    path = write(tmp_path / "q.csv", 'species,x,n\n"Adelie","1.5","3"\nGentoo,"nan","4"\n')
    result = scan_json(capsys, path, tmp_path)
    x, n = result["features"]["x"], result["features"]["n"]
    assert (x["type"], x["nan"], x["present"]) == ("FLOAT", 1, 2)
    assert (n["type"], n["present"], n["mean"]) == ("INT", 2, 3.5)
    assert staged(path, tmp_path) == "species,x,n\nAdelie,1.5,3\nGentoo,nan,4\n"
    faults_data.assert_serving_intact(pushed)


def test_missing_and_float_tokens_are_counted(pushed, tmp_path, capsys):
    cells = ["NA", "null", "None", "", "nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"]
    cells += ["1e300", "2.5", "-1e39", "1e19", "?", "abc"]
    text = "x,y\n" + "".join(f"{c},{c if c not in ('?', 'abc') else 1}\n" for c in cells)
    path = write(tmp_path / "tokens.csv", text)
    # x: '?' is a missing spelling (5 missing); 'abc' is a stray string in a column whose other
    # 10 values are numbers (>= 90%): under stray_strings: block a "type" violation naming it,
    # the column read as text (the default reads 'abc' as missing).
    result = scan_json(capsys, path, tmp_path, *BLOCK_STRAYS)
    x, y = result["features"]["x"], result["features"]["y"]
    assert (x["type"], x["missing"], x["nan"], x["pos_inf"]) == ("STRING", 5, 0, 0)
    assert x["non_numeric"] == {"abc": 1}
    typed = [v for v in result["violations"] if v["kind"] == "type"]
    assert [(v["feature"], v["details"]["tokens"]) for v in typed] == [("x", {"abc": 1})]
    # y: FLOAT as float32: 1e300 -> +Inf, -1e39 -> -Inf; 1e19 finite (not huge: <= 1.8e19).
    assert (y["type"], y["missing"], y["nan"]) == ("FLOAT", 4, 2)
    assert (y["pos_inf"], y["neg_inf"], y["huge"]) == (3, 3, 0)
    assert staged(path, tmp_path).splitlines()[1:5] == [",", ",", ",", ","]
    faults_data.assert_serving_intact(pushed)


def test_quoted_newline_and_a_character_across_64_kib(pushed, tmp_path, capsys):
    filler = "x" * (65536 - len("species,note\n") - 1)  # 'é' starts at byte 65,535
    text = f'species,note\nAdelie,{filler}é\nGentoo,"two\nlines, one cell"\n'
    path = write(tmp_path / "wide.csv", text)
    result = scan_json(capsys, path, tmp_path)
    assert result["rows"] == 2 and result["features"]["note"]["missing"] == 0
    assert staged(path, tmp_path).endswith('Gentoo,"two\nlines, one cell"\n')
    faults_data.assert_serving_intact(pushed)


def test_a_string_in_a_numeric_column_of_the_schema_is_named_and_fails_check(
    pushed, tmp_path, capsys
):
    frame = pd.read_csv(data_lib.bundled_penguins_csv(), keep_default_na=False, dtype=str)
    frame.loc[7, "bill_length_mm"] = "forty"
    path = str(tmp_path / "typo.csv")
    frame.to_csv(path, index=False)
    code, text = run_cli(capsys, "scan", path, "--schema", SCHEMA)
    assert code == EXIT_OK
    code, text = run_cli(capsys, "scan", path, "--schema", SCHEMA, "--check")
    assert code == EXIT_OK and "'forty' x1" in text  # default: read as missing, with a note
    code, text = run_cli(capsys, "scan", path, "--schema", SCHEMA, "--check", *BLOCK_STRAYS)
    assert code == EXIT_BLOCKED
    assert "feature 'bill_length_mm' holds 1 value(s)" in text, text
    assert "'forty' x1" in text and f"First 'forty' at {path} (line 9);" in text, text
    assert "set data_guard.stray_strings: treat_as_missing" in text, text
    faults_data.assert_serving_intact(pushed)


def test_scan_json_under_a_file_exits_2(pushed, tmp_path, capsys, penguins_csv):
    blocker = write(tmp_path / "file", "x")
    code, text = run_cli(capsys, "scan", penguins_csv, "--json", f"{blocker}/out.json")
    assert code == EXIT_USAGE
    assert f"--json {blocker}/out.json: {blocker} is a file" in text, text
    faults_data.assert_serving_intact(pushed)


# ---------------------------------------------------------------------------------------------
# Bad flags and --config: exit 2 naming the flag or key, before anything is written.
# ---------------------------------------------------------------------------------------------


def test_bad_label_exits_2_naming_the_columns(pushed, capsys):
    before = staging_folders(pushed)
    code, text = run_cli(capsys, "run", *pushed.flags(), "--label", "specie")
    assert code == EXIT_USAGE
    assert "--label specie: not a column of the data" in text and "'species'" in text
    assert staging_folders(pushed) == before
    faults_data.assert_serving_intact(pushed)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--train-steps", "0"], "--train-steps 0: must be at least 1"),
        (["--eval-steps", "-3"], "--eval-steps -3: must be at least 1"),
        (["--schema", "/nonexistent/schema.pbtxt"], "--schema /nonexistent/schema.pbtxt: no such"),
    ],
    ids=["train_steps_0", "eval_steps_negative", "missing_schema"],
)
def test_bad_flag_exits_2_naming_it(pushed, capsys, flags, words):
    before = staging_folders(pushed)
    code, text = run_cli(capsys, "run", *pushed.flags(), *flags)
    assert code == EXIT_USAGE
    assert words in text, text
    assert staging_folders(pushed) == before
    faults_data.assert_serving_intact(pushed)


CONFIG_CASES = {
    "missing": (None, "no such file"),
    "folder": ("FOLDER", "is a folder"),
    "binary": (b"\xff\xfe\x00\x01\x89binary", "not a UTF-8 text file"),
    "invalid_yaml": ("trainer: {learning_rate: [1, \n", "not valid YAML"),
    "not_a_mapping": ("- 1\n- 2\n", "expected a mapping with the keys"),
    "unknown_key": ("trainr: {}\n", "unknown key(s) ['trainr']"),
    "unknown_nested_key": ("trainer: {learning_rat: 0.1}\n", "unknown key(s) ['learning_rat']"),
    "negative_learning_rate": ("trainer: {learning_rate: -1}\n", "trainer.learning_rate"),
    "bad_inf_policy": ("data_guard: {inf: explode}\n", "data_guard.inf: 'explode' is not allowed"),
    "zero_batch": ("gate: {batch_size: 0}\n", "gate.batch_size: 0 is not allowed"),
    "fraction_above_1": ("data_guard: {max_missing_fraction: 1.5}\n", "max_missing_fraction"),
    "section_a_list": ("data_guard: [1, 2]\n", "data_guard: expected a mapping"),
    "nan_train_steps": ("trainer: {train_steps: .nan}\n", "trainer.train_steps"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_exits_2_naming_the_file_and_key(pushed, tmp_path, capsys, case):
    content, words = CONFIG_CASES[case]
    path = str(tmp_path / "config.yaml")
    if content == "FOLDER":
        os.mkdir(path)
    elif content is not None:
        write(path, content)
    before = staging_folders(pushed)
    code, text = run_cli(capsys, "run", *pushed.flags(), "--config", path)
    assert code == EXIT_USAGE, text
    assert f"--config {path}: " in text and words in text, text
    assert "Traceback" not in text
    assert staging_folders(pushed) == before
    faults_data.assert_serving_intact(pushed)


# ---------------------------------------------------------------------------------------------
# Where nanguard writes: the root, the serving folder, one run at a time, a full disk.
# ---------------------------------------------------------------------------------------------


def test_a_root_holding_user_files_is_refused_untouched(pushed, tmp_path, capsys):
    root = tmp_path / "mine"
    root.mkdir()
    write(root / "thesis.tex", "keep")
    (root / "data").mkdir()
    write(root / "data" / "penguins.csv", "species,x\nAdelie,1\n")
    before = faults_data.serving_snapshot(root)
    code, text = run_cli(capsys, "run", "--root", str(root), "--serving-dir", pushed.serving_dir)
    assert code == EXIT_USAGE
    assert f"--root {root}: the folder holds files nanguard did not create" in text
    assert faults_data.serving_snapshot(root) == before
    assert sorted(os.listdir(root)) == ["data", "thesis.tex"]
    faults_data.assert_serving_intact(pushed)


def test_a_root_that_is_a_file_is_refused(pushed, tmp_path, capsys):
    root = write(tmp_path / "root.txt", "mine")
    code, text = run_cli(capsys, "run", "--root", root, "--serving-dir", pushed.serving_dir)
    assert code == EXIT_USAGE
    assert f"--root {root}: is a file" in text
    assert open(root).read() == "mine"
    faults_data.assert_serving_intact(pushed)


@pytest.mark.parametrize("shape", ["under_a_file", "a_file"])
def test_a_serving_dir_that_cannot_hold_models_exits_2(pushed, tmp_path, capsys, shape):
    blocker = write(tmp_path / "blocker", "mine")
    serving = os.path.join(blocker, "serving") if shape == "under_a_file" else blocker
    before = staging_folders(pushed)
    code, text = run_cli(capsys, "run", "--root", pushed.root, "--serving-dir", serving)
    assert code == EXIT_USAGE
    words = "cannot be created" if shape == "under_a_file" else "is a file; pass a folder"
    assert f"--serving-dir {serving}: {words}" in text, text
    assert staging_folders(pushed) == before and open(blocker).read() == "mine"
    faults_data.assert_serving_intact(pushed)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_serving_dir_exits_2(pushed, tmp_path, capsys):
    serving = tmp_path / "readonly"
    serving.mkdir()
    serving.chmod(0o555)
    try:
        code, text = run_cli(capsys, "run", "--root", pushed.root, "--serving-dir", str(serving))
    finally:
        serving.chmod(0o755)
    assert code == EXIT_USAGE
    assert f"--serving-dir {serving}: not writable" in text
    faults_data.assert_serving_intact(pushed)


def test_a_second_run_while_another_process_holds_the_root_exits_2(pushed, tmp_path):
    from nanguard.pipelines import local_runner

    layout = local_runner.Layout(root=pushed.root, serving_dir=pushed.serving_dir)
    before = staging_folders(pushed)
    with layout.lock():  # this test process stands for the run in progress
        result = subprocess.run(
            [*NANGUARD, "run", *pushed.flags()], capture_output=True, text=True, timeout=300
        )
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert (
        f"--root {pushed.root}: another nanguard run (pid {os.getpid()}) is using this root"
        in result.stderr
    )
    assert staging_folders(pushed) == before
    faults_data.assert_serving_intact(pushed)


def _small_files(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_full_disk_while_staging_exits_2_naming_the_staged_file(pushed):
    """A file-size limit of 4 KiB stands for a full disk: staging the 13 KiB penguins fails.

    Defined from the code: the staged file is left, partly written, in its own new staging
    folder under the root (nanguard's own); nothing is run and the serving folder is untouched.
    """
    before = staging_folders(pushed)
    result = subprocess.run(
        [*NANGUARD, "run", *pushed.flags()],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_small_files(4096),
    )
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    (new,) = sorted(set(staging_folders(pushed)) - set(before))
    staged_file = os.path.join(pushed.root, "staging", new, "data.csv")
    assert f"{staged_file}: the staged data could not be written (File too large)" in (
        result.stderr
    ), result.stderr
    assert "free space or pass another --root" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    faults_data.assert_serving_intact(pushed)


# ---------------------------------------------------------------------------------------------
# The data guard's verdict on splits the CLI cannot shape: one row, a label missing in one split.
# ---------------------------------------------------------------------------------------------


def _profile(columns: dict) -> dict:
    from nanguard.components.data_guard import profiling

    table = pa.table(columns)
    profile = profiling.profile_record_batches(table.to_batches())
    profiling.complete_profile(profile, table.column_names)
    return profile


def test_a_one_row_split_passes_and_a_split_without_labels_blocks(pushed):
    """Defined from the code: a split with one good row passes (nothing to judge against);
    a split whose every label is missing is a label violation naming the split, whatever the
    unlabelled-rows policy (there is nothing to train on)."""
    from nanguard.components.data_guard import core
    from nanguard.components.data_guard.config import DataGuardConfig

    train = _profile({"x": pa.array(np.arange(20.0)), "species": pa.array([b"Adelie"] * 20)})
    one_row = _profile({"x": pa.array([1.0]), "species": pa.array([b"Gentoo"])})
    no_label = _profile({"x": pa.array([1.0, 2.0]), "species": pa.array([None, None], pa.binary())})
    config = DataGuardConfig()
    result = core.judge_splits({"train": train, "eval": one_row}, None, config, "species")
    assert result["blessed"], result
    for policy in ("block", "drop"):
        config = DataGuardConfig(unlabelled_rows=policy)
        result = core.judge_splits({"train": train, "eval": no_label}, None, config, "species")
        assert not result["blessed"]
        violations = result["splits"]["eval"]["violations"]
        (violation,) = [v for v in violations if v.kind != "skew"]
        # The label's missing rate went from 0% (train) to 100% (eval): skew names it too.
        assert [
            (v.feature, v.details["finding"]["rate"]) for v in violations if v.kind == "skew"
        ] == [("species", "missing")]
        assert "label 'species' in split 'eval': 2 of 2 rows have no usable label" in (
            violation.message
        )
        assert (violation.key, violation.passing_value) == (
            "data_guard.max_unlabelled_fraction",
            None,  # no value of it gives a split without labels anything to learn from
        )
        assert result["splits"]["train"]["violations"] == []
        assert result["splits"]["eval"]["label_missing"] == 2
    faults_data.assert_serving_intact(pushed)


# ---------------------------------------------------------------------------------------------
# Pipeline-level cases (e2e): each runs `nanguard run` against the same root and serving folder.
# ---------------------------------------------------------------------------------------------


def run_nanguard(pushed, *flags: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*NANGUARD, "run", *pushed.flags(), *TRAIN_STEPS, *flags],
        capture_output=True,
        text=True,
        cwd=pushed.tmp,
        timeout=1800,
    )
    print(result.stdout, result.stderr)
    return result


@pytest.mark.e2e
def test_killed_in_trainer_then_rerun_completes(pushed):
    """SIGKILL one second after `Trainer started`, then the same command on the same root."""
    if pushed.killed is None:
        pytest.skip("NANGUARD_FAULTS_ROOT: the fixture reused a root and killed nothing")
    killed = pushed.killed
    assert killed["trainer_started"], "\n".join(killed["lines"])
    assert killed["returncode"] == -signal.SIGKILL
    assert not any("Pusher" in line for line in killed["lines"])
    assert killed["serving_after_kill"] == [] and killed["serving_files_after_kill"] == []
    assert pushed.rerun.returncode == 0
    assert f"Pushed model: {os.path.join(pushed.serving_dir, pushed.version)}" in (
        pushed.rerun.stdout
    )
    assert faults_data.version_folders(pushed.serving_dir) == [pushed.version]
    faults_data.assert_serving_intact(pushed)


def _penguins(tmp, name: str, edit) -> str:
    frame = pd.read_csv(data_lib.bundled_penguins_csv(), keep_default_na=False, dtype=str)
    edit(frame)
    path = os.path.join(tmp, name)
    frame.to_csv(path, index=False)
    return path


@pytest.mark.e2e
def test_guard_blocks_all_missing_overflow_and_missing_labels_at_once(pushed, tmp_path):
    """One run, four faults: bill_depth_mm all missing, bill_length_mm 1e300 (float32: +Inf)
    in every 25th row, `year` constant (allowed: no violation) and 5 missing labels. Label gaps
    are left out by default, but this curated schema (`schemas/penguins.pbtxt`) fixes the
    label's shape, so parsing those rows would fail: the guard names that, with the fix."""

    def edit(frame):
        frame["bill_depth_mm"] = ""
        frame.loc[frame.index % 25 == 0, "bill_length_mm"] = "1e300"
        frame["year"] = "2008"
        frame.loc[[3, 50, 100, 200, 300], "species"] = "NA"

    path = _penguins(tmp_path, "faults.csv", edit)
    result = run_nanguard(pushed, "--data", path, "--schema", SCHEMA)
    assert result.returncode == EXIT_BLOCKED, result.stdout + result.stderr
    blocked = blocked_text(result.stdout)  # every violation of the stage at once
    assert "feature 'bill_depth_mm'" in blocked and "feature 'bill_length_mm'" in blocked
    assert "Inf value(s)" in blocked and "label 'species'" in blocked
    assert "rows have no usable label, and the schema requires it" in blocked  # per split
    assert "set data_guard.all_missing: exclude" in blocked
    assert "set data_guard.inf: treat_as_missing" in blocked
    assert "'year'" not in blocked
    assert "Transform              started" not in result.stdout
    assert re.search(r"^  DataGuard +BLOCKED after +[\d.]+ s$", result.stdout, re.M), result.stdout
    faults_data.assert_serving_intact(pushed)


@pytest.mark.e2e
def test_stock_model_that_predicts_nan_only_on_a_probe_is_not_pushed(pushed, tmp_path):
    """Clean data, stock preprocessing and run_fn: the model is finite on the data (the gate
    counts 0 non-finite) and non-finite on at least one hostile probe (which ones depends on
    the initialisation; a seen run: `neg_inf:bill_length_mm`); exit 3 naming it, nothing pushed.
    """
    config = tmp_path / "stock.yaml"
    config.write_text(
        "transform: {preprocessing_fn: nanguard.pipelines.stock.preprocessing_fn}\n"
        "trainer: {run_fn: nanguard.pipelines.stock.run_fn}\n"
    )
    result = run_nanguard(pushed, "--config", str(config))
    assert result.returncode == EXIT_BLOCKED, result.stdout + result.stderr
    gate = [line for line in result.stdout.splitlines() if line.strip().startswith("gate")]
    assert gate and "0 non-finite" in gate[0] and "NOT blessed" in gate[0], gate
    blocked = blocked_text(result.stdout)
    assert blocked.startswith("BLOCKED by FinitePredictionGate: "), result.stdout
    assert re.search(r"probe\(s\) failed: .*(nan|pos_inf|neg_inf):\w+", blocked), blocked
    assert "nothing was pushed" in result.stdout.lower()
    faults_data.assert_serving_intact(pushed)


@pytest.mark.e2e
def test_divergent_learning_rate_never_pushes_a_non_finite_model(pushed, tmp_path):
    """`trainer: {learning_rate: 1e6}`. Defined from what the code does: the guarded trainer
    exports a finite model (no non-finite event: Adam's step size is bounded), the gate finds
    nothing non-finite, and the Evaluator does not bless the useless model: exit 3, nothing
    pushed. Had it been pushed, it would have to predict finite values. The threshold is 0.9,
    which a trained model passes (0.99) and a thrown-about one does not: at 0.5, which class
    the saturated model lands on decides (below 0.5 until the steps per call changed the
    dropout draws of the same seed; 0.66 after)."""
    config = tmp_path / "divergent.yaml"
    config.write_text("trainer: {learning_rate: 1.0e+6}\nevaluator: {min_accuracy: 0.9}\n")
    result = run_nanguard(pushed, "--config", str(config))
    assert result.returncode == EXIT_BLOCKED, result.stdout + result.stderr
    assert "trainer      status ok" in result.stdout
    assert "0 non-finite, 0 probe(s) failed: NOT blessed" in result.stdout
    # The gate names the Evaluator's failed threshold (accuracy of a useless model).
    blocked = blocked_text(result.stdout)
    assert blocked.startswith("BLOCKED by Evaluator: "), result.stdout
    assert re.search(r"labelled_accuracy = [0-9.]+ is below the threshold 0\.9", blocked), blocked
    faults_data.assert_serving_intact(pushed)


@pytest.mark.e2e
def test_no_traceback_reaches_the_console_of_a_run(pushed):
    """The fixture's successful rerun (exit 0) printed no traceback on its console."""
    if pushed.rerun is None:
        pytest.skip("NANGUARD_FAULTS_ROOT: the fixture reused a root and ran nothing")
    assert pushed.rerun.returncode == 0
    assert "Traceback" not in pushed.rerun.stdout + pushed.rerun.stderr, pushed.rerun.stderr
