"""Tests of `nanguard check-model` (components/gate/cli.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.gate import cli, testing
from nanguard.pipelines import cli as nanguard_cli


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


def test_table_to_examples_missing_vs_nan(env):
    table = cli.read_csv(env["csv"])
    assert table.num_rows == env["rows"]
    examples = [tf.train.Example.FromString(r) for r in cli.table_to_examples(table)]
    xs = [list(e.features.feature["x"].float_list.value) for e in examples]
    assert xs[0] == [2.5] and np.isnan(xs[2][0])
    assert xs[3] == [] and xs[4] == [] and xs[11] == []  # NA, empty, None -> no value
    assert xs[7] == [np.inf] and xs[8] == [-np.inf] and xs[9] == [np.inf]
    assert list(examples[2].features.feature["color"].bytes_list.value) == []  # 'null'


def test_check_model_blocked_with_exact_counts(env, tmp_path):
    out = tmp_path / "report.json"
    code = nanguard_cli.main(
        ['check-model', env['models']['log'], '--data', env['csv'], '--json', str(out),
         '--label', 'label']
    )  # fmt: skip
    assert code == 3
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


def test_check_model_blessed(env, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = nanguard_cli.main(['check-model', env['models']['healthy'], '--data', env['csv'],
                     '--json', str(out), '--label', 'label'])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert (report["examples"], report["non_finite"], report["probes_failed"]) == (
        env["rows"],
        0,
        [],
    )
    assert report["probes_run"] == 1 + 5 + 2 + 1 + 1  # base, x, n, color, all_missing
    assert "blessed=true" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--data", "/nonexistent.csv"], "/nonexistent.csv"),
        (["--data", "CSV", "--signature", "nope"], "nope"),
        (["--data", "CSV", "--label", "nolabel"], "--label"),
    ],
)
def test_bad_input_exit_2(env, capsys, argv_tail, needle):
    argv = ['check-model', env['models']['healthy'], *[env['csv'] if a == 'CSV' else a
                                                      for a in argv_tail]]  # fmt: skip
    assert nanguard_cli.main(argv) == 2
    assert needle in capsys.readouterr().err


def test_bad_model_dir_exit_2(env, capsys):
    assert (
        nanguard_cli.main(["check-model", str(env["root"] / "nomodel"), "--data", env["csv"]]) == 2
    )
    assert "nomodel" in capsys.readouterr().err
