"""Two runs on one root: the second, whose NaN rate jumped for one feature in one island, is
blocked by the data guard's drift check against the first (pushed) run, found in ML Metadata."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from nanguard.components import vocab
from nanguard.pipelines import data as data_lib
from nanguard.pipelines import local_runner
from tests.pipelines.conftest import NANGUARD

pytestmark = pytest.mark.e2e


def _run(root, csv, config, cwd):
    result = subprocess.run(
        [*NANGUARD, "run", "--root", str(root), "--data", str(csv), "--label", "species",
         "--config", str(config), "--train-steps", "40"],
        capture_output=True, text=True, cwd=cwd, timeout=1800,
    )  # fmt: skip
    print(result.stdout, result.stderr)
    return result


def test_a_nan_jump_in_one_slice_blocks_the_next_run_naming_feature_slice_and_rates(tmp_path):
    config = tmp_path / "nanguard.yaml"
    config.write_text("data_guard:\n  slice_by: [island]\n")
    frame = pd.read_csv(data_lib.bundled_penguins_csv())
    first = tmp_path / "first.csv"
    frame.to_csv(first, index=False)
    root = tmp_path / "root"
    result = _run(root, first, config, tmp_path)
    assert result.returncode == vocab.EXIT_OK
    assert "no earlier pushed run under this root: no drift baseline yet" in result.stdout
    # Next batch: Dream's flipper lengths start arriving as NaN.
    jumped = frame.copy()
    jumped["flipper_length_mm"] = jumped["flipper_length_mm"].astype(object)
    dream = jumped["island"] == "Dream"
    jumped.loc[dream, "flipper_length_mm"] = "nan"  # NaN cells, not gaps
    second = tmp_path / "second.csv"
    jumped.to_csv(second, index=False)
    pushed_run, guard_uri = local_runner.last_pushed_guard_output(str(root / "metadata.sqlite"))
    result = _run(root, second, config, tmp_path)
    assert result.returncode == vocab.EXIT_BLOCKED
    out = result.stdout
    assert f"compared with the last pushed run {pushed_run}" in out
    blocked = out.split("BLOCKED:", 1)[1]  # one line per violation from here on
    # Feature, slice, both rates and where the old one comes from.
    assert "drift: flipper_length_mm: NaN rate 0.00% in baseline (" in blocked, blocked
    assert guard_uri in blocked and "train[island=Dream] (0 of" in blocked, blocked
    assert "vs 100.00% in train[island=Dream]" in blocked, blocked
    # The first run stays the one pushed; nothing new in the serving folder.
    assert len(list((root / "serving").iterdir())) == 1
