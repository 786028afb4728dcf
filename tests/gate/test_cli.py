"""cli.py: `nanguard check-model` on a SavedModel and CSV data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from nanguard.components import vocab
from nanguard.components.gate import testing
from nanguard.pipelines import cli as nanguard_cli

HEAVY = ("tensorflow", "apache_beam", "tensorflow_data_validation", "tensorflow_model_analysis")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    csv_dir = root / "csv"
    csv_dir.mkdir()
    # x: floats with the tokens the project reads as values (nan, inf) and as missing (NA, '').
    x_cells = ["2.5", "0.5", "nan", "NA", "", "1", "30", "inf", "-inf", "Infinity", "7", "None"]
    rows = len(x_cells)
    lines = ["x,n,color,label"] + [
        f"{xc},{i % 7},{['red', 'blue', 'null'][i % 3]},{i % 2}" for i, xc in enumerate(x_cells)
    ]
    (csv_dir / "part1.csv").write_text("\n".join(lines[:7]) + "\n")
    (csv_dir / "part2.csv").write_text("\n".join([lines[0], *lines[7:]]) + "\n")
    models = {k: testing.save_model(str(root / k), k) for k in ("healthy", "log")}
    return {"root": root, "csv": str(csv_dir), "rows": rows, "x_cells": x_cells, "models": models}


def _reference_log(x_cells):
    """numpy reference for the log model on the CSV: missing x -> parse default 0."""
    missing = {"NA", "", "None"}
    x = np.array([0.0 if c in missing else float(c) for c in x_cells], np.float32)
    with np.errstate(all="ignore"):
        out = np.log(x - np.float32(1.0))
    return out


@pytest.fixture
def local_tmp(tmp_path, monkeypatch):
    """The system temp dir, watched: check-model must leave no nanguard_gate_* folder in it."""
    folder = tmp_path / "system_tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert [n for n in os.listdir(folder) if n.startswith("nanguard_gate_")] == []


def test_check_model_blocked_with_exact_counts(env, tmp_path, local_tmp):
    out = tmp_path / "report.json"
    code = nanguard_cli.main(
        ['check-model', env['models']['log'], '--data', env['csv'], '--json', str(out),
         '--label', 'label']
    )  # fmt: skip
    assert code == vocab.EXIT_BLOCKED == 3
    report = json.loads(out.read_text())
    ref = _reference_log(env["x_cells"])
    assert report["examples"] == env["rows"]
    assert report["outputs"]["outputs"]["nan"] == int(np.isnan(ref).sum())
    assert report["outputs"]["outputs"]["neg_inf"] == int(np.isneginf(ref).sum())
    assert report["outputs"]["outputs"]["pos_inf"] == int(np.isposinf(ref).sum())
    assert report["non_finite"] == int((~np.isfinite(ref)).sum())
    assert report["blessed"] is False
    assert "all_missing" in report["probes_failed"]
    assert set(report) >= {'examples', 'non_finite', 'nan', 'pos_inf', 'neg_inf',
                           'probes_failed', 'blessed'}  # fmt: skip
    # Non-finite values in the JSON are vocab's strings, never bare NaN/Infinity tokens.
    assert "NaN" in out.read_text() and vocab.dumps(report, indent=1) == out.read_text()
    offending_x = [ex["features"].get("x") for ex in report["offending_examples"]]
    assert ["NaN"] in offending_x


def test_check_model_blessed(env, tmp_path, capsys, local_tmp):
    out = tmp_path / "r.json"
    code = nanguard_cli.main(['check-model', env['models']['healthy'], '--data', env['csv'],
                     '--json', str(out), '--label', 'label'])  # fmt: skip
    assert code == vocab.EXIT_OK == 0
    report = json.loads(out.read_text())
    assert (report["examples"], report["non_finite"], report["probes_failed"]) == (
        env["rows"],
        0,
        [],
    )
    # base, x (11 families), n (6: no float-only ones), color (missing), all_missing
    assert report["probes_run"] == 1 + 11 + 6 + 1 + 1
    assert report["probes_rejected"] == ["as_bytes:x", "as_bytes:n"]
    assert "blessed=true" in capsys.readouterr().out


def test_no_probes_and_batch_size_flags(env, tmp_path, local_tmp):
    out = tmp_path / "r.json"
    argv = ["check-model", env["models"]["healthy"], "--data", env["csv"], "--no-probes",
            "--batch-size", "5", "--json", str(out)]  # fmt: skip
    assert nanguard_cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["probes_run"] == 0 and report["examples"] == env["rows"]


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--data", "/nonexistent.csv"], "--data /nonexistent.csv: no such file or folder"),
        (["--data", "CSV", "--signature", "nope"], "has no signature 'nope'"),
        (["--data", "CSV", "--label", "nolabel"], "--label 'nolabel' is not a column"),
        (["--data", "CSV", "--batch-size", "0"], "gate.batch_size: 0 is not allowed"),
    ],
)
def test_bad_input_exit_2(env, capsys, argv_tail, needle):
    argv = ['check-model', env['models']['healthy'], *[env['csv'] if a == 'CSV' else a
                                                      for a in argv_tail]]  # fmt: skip
    assert nanguard_cli.main(argv) == vocab.EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert err.startswith("nanguard check-model: ") and needle in err


def test_bad_model_dir_exit_2(env, capsys):
    assert (
        nanguard_cli.main(["check-model", str(env["root"] / "nomodel"), "--data", env["csv"]]) == 2
    )
    err = capsys.readouterr().err
    assert "nomodel" in err and "No SavedModel" in err


def test_a_failed_check_leaves_no_temp_folder(env, tmp_path, capsys, local_tmp):
    """x as text: the model's parse_example fails inside Beam -> exit 2, scratch folder gone."""
    bad = tmp_path / "text.csv"
    bad.write_text("x,n\nabc,1\ndef,2\n")
    code = nanguard_cli.main(["check-model", env["models"]["log"], "--data", str(bad)])
    assert code == 2
    assert "cannot read --data" in capsys.readouterr().err


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from nanguard.pipelines import cli\n"
        "try:\n"
        "    cli.main(['check-model', '--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--no-probes" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_beam_arg_runs_the_beam_path_with_the_same_report(env, tmp_path, local_tmp):
    reports = []
    for extra in ([], ["--beam-arg=--runner=DirectRunner"]):
        out = tmp_path / f"r{len(reports)}.json"
        argv = ["check-model", env["models"]["log"], "--data", env["csv"], "--json", str(out),
                "--label", "label", "--batch-size", "5", *extra]  # fmt: skip
        assert nanguard_cli.main(argv) == 3
        reports.append(json.loads(out.read_text()))
    assert reports[0] == reports[1]
    assert reports[0]["examples"] == env["rows"] and reports[0]["splits"]["data"]["examples"] == 12


def test_check_model_on_a_csv_runs_without_beam(env, tmp_path):
    """The local path imports TensorFlow (the model) but no Beam, TFDV or TFMA."""
    out = tmp_path / "r.json"
    code = (
        "import sys\n"
        "from nanguard.components.gate import cli\n"
        "from nanguard.pipelines import cli as main_cli\n"
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        "cli.add_parsers(parser.add_subparsers())\n"
        f"args = parser.parse_args(['check-model', {env['models']['healthy']!r}, '--data', "
        f"{env['csv']!r}, '--json', {str(out)!r}, '--label', 'label'])\n"
        "assert args.func(args) == 0\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "['tensorflow']"
    assert json.loads(out.read_text())["examples"] == env["rows"]


# ---- issue #23: check-model reads as the run read ----


def _spreadsheet_csv(path, cells_of_x):
    """A `;`-separated cp1252 file with decimal commas and CRLF, as Excel writes it."""
    lines = ["x;n;color;label"] + [
        f"{x};{i % 7};{['rot', 'blue', 'grün'][i % 3]};{i % 2}" for i, x in enumerate(cells_of_x)
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return str(path)


_X = [f"{i},5" for i in range(30)]  # 0,5 .. 29,5: decimal commas


def test_a_stray_string_rejects_its_row_not_the_batch(env, tmp_path, capsys):
    data = _spreadsheet_csv(tmp_path / "req.csv", [*_X[:10], "abc", *_X[10:], "n. a."])
    out = tmp_path / "r.json"
    block = tmp_path / "block.yaml"  # the default reads stray strings as missing, as a run does
    block.write_text('{"data_guard": {"stray_strings": "block"}}')  # JSON is YAML
    argv = ["check-model", env["models"]["log"], "--data", data, "--json", str(out),
            "--label", "label", "--no-probes", "--config", str(block)]  # fmt: skip
    assert nanguard_cli.main(argv) == 3  # log(x - 1) is NaN for x = 0.5: not blessed
    report = json.loads(out.read_text())
    reading = report["reading"]
    assert reading["rejected_rows"] == 2 and report["examples"] == 30
    assert report["non_finite"] == report["nan"] == 1  # x = 0,5 read as 0.5: log(-0.5)
    assert reading["rejected"] == [
        {"row": 11, "feature": "x", "value": "abc"},
        {"row": 32, "feature": "x", "value": "n. a."},
    ]
    assert reading["strays"]["x"]["action"] == "rows_rejected"
    assert reading["dialect"][data] == {"delimiter": ";", "decimal": ",", "encoding": "cp1252"}
    text = capsys.readouterr().out
    assert "REJECTED: 2 row(s) with a stray string in a numeric feature" in text
    assert "row 11 'x'='abc'" in text


@pytest.mark.parametrize("how", ["config", "run"])
def test_the_run_s_reading_keys_read_the_training_file_as_the_run_did(env, tmp_path, how):
    """stray_strings: treat_as_missing and a replaced missing set, from --config or --run."""
    from nanguard.components.data_guard.config import DataGuardConfig
    from nanguard.pipelines import data as data_lib

    data = _spreadsheet_csv(tmp_path / "train.csv", [*_X, "abc", "None", "?"])
    settings = {"stray_strings": "treat_as_missing", "default_missing_tokens": False,
                "missing_tokens": ["?"]}  # fmt: skip
    if how == "config":
        config = tmp_path / "c.yaml"
        config.write_text(json.dumps({"data_guard": settings}))  # JSON is YAML
        flags = ["--config", str(config)]
    else:
        root = tmp_path / "root"
        table, _ = data_lib.read_data(data, DataGuardConfig.from_dict(settings))
        data_lib.write_staged(table, str(root / "staging" / "20260101-000000-1-0"))
        flags = ["--run", str(root)]
        assert data_lib.reading_from_run(str(root)) == DataGuardConfig.from_dict(settings)
    out = tmp_path / "r.json"
    argv = ["check-model", env["models"]["healthy"], "--data", data, "--json", str(out),
            "--label", "label", "--no-probes", *flags]  # fmt: skip
    assert nanguard_cli.main(argv) == 0
    report = json.loads(out.read_text())
    reading = report["reading"]
    # 'None' is not missing here: with 'abc' it is a stray string, read as missing.
    assert report["examples"] == 33 and reading["rejected_rows"] == 0
    assert reading["strays"]["x"]["count"] == 2
    assert reading["strays"]["x"]["tokens"] == {"None": 1, "abc": 1}
    assert reading["missing_spellings"] == {"x": {"?": 1}}
