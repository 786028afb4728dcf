"""cli.py: `nanguard scan` and `nanguard harden-schema`: output, exit codes, messages."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components import vocab
from nanguard.components.data_guard import cli
from tests.data_guard.helpers import CRAFTED, PENGUINS, assert_feature_matches, reference_counts
from tests.data_guard.test_schema import _schema


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nanguard")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


_run_cli = run_cli


def test_harden_schema_cli(tmp_path):
    src, dst = str(tmp_path / "in.pbtxt"), str(tmp_path / "out.pbtxt")
    tfdv.write_schema_text(_schema(), src)
    assert _run_cli(["harden-schema", src, dst, "--exclude", "a"]) == 0
    out = {f.name: f for f in tfdv.load_schema_text(dst).feature}
    assert out["b"].float_domain.disallow_nan and not out["a"].HasField("float_domain")
    assert _run_cli(["harden-schema", str(tmp_path / "nope.pbtxt"), dst]) == 2


def test_scan_crafted_csv_exact_counts_and_check_exit_3(tmp_path, capsys):
    schema_path = str(tmp_path / "schema.pbtxt")
    s = schema_pb2.Schema()
    s.feature.add(name="ghost", type=schema_pb2.FLOAT)  # in the schema, not in the data
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    tfdv.write_schema_text(s, schema_path)
    out = str(tmp_path / "scan.json")
    code = _run_cli(
        ["scan", CRAFTED, "--schema", schema_path, "--json", out, "--check", "--label", "label"]
    )
    assert code == 3
    table = capsys.readouterr().out
    assert "VIOLATION" in table and "ghost" in table
    result = json.load(open(out))
    ref = reference_counts(CRAFTED)
    assert result["rows"] == 16
    assert set(result["features"]) == {"x", "y", "s", "label", "z", "ghost"}
    for name, r in ref.items():
        assert_feature_matches(result["features"][name], r)
    # Literal checks on the crafted file, so the reference itself is pinned down.
    x = result["features"]["x"]
    assert (x["missing"], x["nan"], x["pos_inf"], x["neg_inf"], x["huge"]) == (4, 2, 3, 1, 2)
    ghost = result["features"]["ghost"]
    assert (ghost["present"], ghost["missing"], ghost["missing_fraction"]) == (0, 16, 1.0)
    kinds = {
        (v["feature"], v["kind"], v["details"].get("severity", "error"))
        for v in result["violations"]
    }
    # The defaults: 2 of 16 labels missing are left out (counted), x's 37.5% gaps a warning;
    # Inf and the features with no value at all block.
    assert kinds == {
        ("x", "missing", "warning"),
        ("x", "inf", "error"),
        ("y", "inf", "error"),
        ("z", "all_missing", "error"),
        ("ghost", "all_missing", "error"),
    }
    assert result["label_missing"] == 2
    assert "rows without a label (left out of training): 2" in table
    assert "WARNING: feature 'x' in split 'all': 6 of 16 rows unusable" in table
    assert "VIOLATION: feature 'z' has no value in any row of split 'all'" in table
    assert "set data_guard.all_missing: exclude" in table
    # Without --check the same scan exits 0; with a lenient policy --check exits 0 too.
    assert _run_cli(["scan", CRAFTED]) == 0
    lenient = json.dumps({"inf": "clip", "all_missing": "exclude", "unlabelled_rows": "drop"})
    assert _run_cli(["scan", CRAFTED, "--check", "--label", "label", "--policy", lenient]) == 0
    # Absolute limits, when a team sets them, block as before.
    strict = json.dumps({"inf": "clip", "all_missing": "exclude", "max_missing_fraction": 0.3})
    capsys.readouterr()
    assert _run_cli(["scan", CRAFTED, "--check", "--policy", strict]) == 3
    assert "set data_guard.max_missing_fraction: 0.375" in capsys.readouterr().out


def test_scan_bad_inputs_exit_2_naming_file_or_feature(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    assert _run_cli(["scan", str(junk)]) == 2
    assert str(junk) in capsys.readouterr().err
    assert _run_cli(["scan", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "".join(f"{i}.5,x{i}\n" for i in range(30)) + "abc,y\n")
    # A stray string in a mostly numeric column: read as missing with a note by default; under
    # stray_strings: block the guard's violation, naming feature, token, count, file and line:
    # exit 3 with --check, as in `run`.
    assert _run_cli(["scan", str(bad), "--check"]) == vocab.EXIT_OK
    assert "NOTE: feature 'a': 1 value(s) that are not numbers read as missing" in (
        capsys.readouterr().out
    )
    block = ["--policy", '{"stray_strings": "block"}']
    assert _run_cli(["scan", str(bad), "--check", *block]) == vocab.EXIT_BLOCKED
    out = capsys.readouterr().out
    assert "VIOLATION: feature 'a' holds 1 value(s) that are not numbers" in out
    assert "'abc' x1" in out and f"{bad} (line 32)" in out and "Traceback" not in out
    assert _run_cli(["scan", str(tmp_path), "--policy", '{"inf": "nope"}']) == 2
    assert "--policy.inf: 'nope'" in capsys.readouterr().err
    assert _run_cli(["scan", str(bad), "--policy", "{not json"]) == 2
    assert "--policy: not JSON" in capsys.readouterr().err


def test_scan_penguins_check_passes():
    assert _run_cli(["scan", PENGUINS, "--check", "--label", "species"]) == vocab.EXIT_OK


def test_scan_takes_the_data_as_run_does_and_a_wrong_flag_shows_scans_usage(tmp_path, capsys):
    """`--data FILE` as `run` and `check-model` take it; an unknown flag gets scan's usage
    (it got the top level's `nanguard [-h] [--version] COMMAND ...`, which names no flag)."""
    json_out = str(tmp_path / "p.json")
    assert _run_cli(["scan", "--data", PENGUINS, "--json", json_out]) == vocab.EXIT_OK
    with open(json_out) as f:
        assert json.load(f)["rows"] == 344
    assert _run_cli(["scan", PENGUINS, "--data", PENGUINS]) == vocab.EXIT_USAGE
    assert "pass the data once" in capsys.readouterr().err
    assert _run_cli(["scan"]) == vocab.EXIT_USAGE
    assert "no data: pass a CSV file" in capsys.readouterr().err
    wrong = subprocess.run(
        [sys.executable, "-m", "nanguard.pipelines.cli", "scan", "--datx", PENGUINS],
        capture_output=True, text=True,
    )  # fmt: skip
    assert wrong.returncode == vocab.EXIT_USAGE
    assert wrong.stderr.startswith("usage: nanguard scan ")
    assert "nanguard scan: error: unrecognized arguments: --datx" in wrong.stderr


def test_scan_json_under_a_file_or_unwritable_is_exit_2_naming_json(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert _run_cli(["scan", CRAFTED, "--json", str(blocker / "out.json")]) == vocab.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--json" in err and str(blocker) in err and "Traceback" not in err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anywhere
            assert _run_cli(["scan", CRAFTED, "--json", str(locked / "o.json")]) == 2
            assert "--json" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
    assert _run_cli(["scan", CRAFTED, "--json", str(tmp_path / "new" / "deep" / "o.json")]) == 0
    assert json.load(open(tmp_path / "new" / "deep" / "o.json"))["rows"] == 16


def test_scan_readme_only_folder_is_exit_2_naming_the_folder(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# data\nsome,words\n")
    assert _run_cli(["scan", str(tmp_path)]) == vocab.EXIT_USAGE
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "no .csv file" in err


def test_scan_header_only_csv_exits_2_as_run_does(tmp_path, capsys):
    """No data row: exit 2 naming the file ('no data rows'), the words staging uses in `run`."""
    for text in ("a,b\n", "a,b"):  # with and without the final line break
        path = tmp_path / "h.csv"
        path.write_text(text)
        for check in ([], ["--check"]):
            assert _run_cli(["scan", str(path), *check]) == vocab.EXIT_USAGE, text
            err = capsys.readouterr().err
            assert f"{path}: no data rows; pass a CSV with a header and rows" in err


def test_string_in_numeric_column_with_schema_is_reported_under_both_policies(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1.5,a\n2.5,b\noops,c\n")
    schema_path = str(tmp_path / "schema.pbtxt")
    s = schema_pb2.Schema()
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    tfdv.write_schema_text(s, schema_path)
    block = ["--policy", '{"stray_strings": "block"}']
    assert _run_cli(["scan", str(data), "--schema", schema_path, "--check", *block]) == 3
    out = capsys.readouterr().out
    assert f"{data} (line 4)" in out and "feature 'x' holds 1 value(s)" in out
    assert "'oops' x1" in out and "schema says FLOAT" in out and "Traceback" not in out
    lenient = '{"stray_strings": "treat_as_missing", "max_missing_fraction": 0.5}'
    out_json = str(tmp_path / "o.json")
    argv = ["scan", str(data), "--schema", schema_path, "--check", "--policy", lenient]
    assert _run_cli([*argv, "--json", out_json]) == vocab.EXIT_OK
    out = capsys.readouterr().out
    assert "NOTE: feature 'x': 1 value(s) that are not numbers read as missing" in out
    with open(out_json) as f:
        x = json.load(f)["features"]["x"]
    assert (x["type"], x["missing"], x["present"], x["mean"]) == ("FLOAT", 1, 2, 2.0)
    assert x["stray_strings"] == {"oops": 1}


def test_help_imports_nothing_heavy():
    """Parsing (and --help) must not import TensorFlow, Beam, TFDV or TFMA."""
    code = (
        "import argparse, sys\n"
        "from nanguard.components.data_guard import cli\n"
        "p = argparse.ArgumentParser(prog='nanguard')\n"
        "cli.add_parsers(p.add_subparsers(dest='command'))\n"
        "for argv in (['scan', 'x.csv', '--check'], ['harden-schema', 'a', 'b']):\n"
        "    p.parse_args(argv)\n"
        "heavy = ('tensorflow', 'apache_beam', 'tensorflow_data_validation',\n"
        "         'tensorflow_model_analysis', 'tfx')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "try:\n"
        "    p.parse_args(['scan', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    lines = out.strip().splitlines()
    assert (lines[0], lines[-1]) == ("[]", "[]")
    assert "--check" in out  # the help text was printed


def _nan_csv(path, rows: int, nan_every: int) -> str:
    lines = ["x,y"] + [
        f"{'nan' if nan_every and i % nan_every == 0 else i * 0.5},{i}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_scan_baseline_flags_a_nan_rate_that_moved_and_not_noise(tmp_path, capsys):
    base = _nan_csv(tmp_path / "old.csv", 2000, 100)  # 1% NaN
    assert run_cli(["scan", base, "--json", str(tmp_path / "old.json")]) == 0
    jumped = _nan_csv(tmp_path / "new.csv", 1000, 5)  # 20% NaN
    capsys.readouterr()
    code = run_cli(["scan", jumped, "--baseline", str(tmp_path / "old.json"), "--check"])
    out = capsys.readouterr().out
    assert code == vocab.EXIT_BLOCKED
    assert f"drift: x: NaN rate 1.00% in {tmp_path / 'old.json'} (20 of 2000) vs 20.00% in " in out
    assert "set data_guard.skew.absolute: 0.19" in out  # |0.20 - 0.01|
    # The guard's own judgement: skew.check off turns the comparison off, as in a run.
    off = json.dumps({"skew": {"check": False}})
    argv = ["scan", jumped, "--baseline", str(tmp_path / "old.json"), "--check"]
    assert run_cli([*argv, "--policy", off]) == 0
    assert "(200 of 1000)" in out and "y:" not in out.split("drift:", 1)[1]
    same = _nan_csv(tmp_path / "same.csv", 1000, 100)  # 1% NaN again: no alarm
    assert run_cli(["scan", same, "--baseline", str(tmp_path / "old.json"), "--check"]) == 0


def test_scan_baseline_that_is_not_a_profile_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    data = _nan_csv(tmp_path / "d.csv", 10, 0)
    assert run_cli(["scan", data, "--baseline", str(bad)]) == vocab.EXIT_USAGE
    assert f"--baseline {bad}: not a profile" in capsys.readouterr().err
