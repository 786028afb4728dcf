"""A team's own `run_fn` gains the guard in two added lines: the TFX examples and a two-tower model.

The penguin example's Keras `run_fn` and the Chicago taxi `taxi_utils_native_keras.py` are read
from a fetched TFX v1.16.0 checkout (the `fetch` tool's mirror of github:tensorflow/tfx; nothing
fetched is committed here) and run stock and with the two lines of `_team_run.EDITS`, in a process
of their own (`tf.keras` is tf_keras only with TF_USE_LEGACY_KERAS=1), on TFX's own testdata,
with every Adam given a divergent learning rate. The two-tower module is ours
(`two_tower_module.py`), on synthetic clicks. In each case the stock twin exports NaN weights on
the same data and seed, and the guarded run recovers or stops with finite weights and exports
nothing non-finite.
"""

import difflib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.trainer import _team_run

GIT_DIR = _team_run.GIT_DIR
ROOT = Path(__file__).resolve().parents[2]


def _tfx_sources() -> str:
    probe = subprocess.run(
        ["git", f"--git-dir={GIT_DIR}", "rev-parse", "--verify", f"{_team_run.TAG}^{{commit}}"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(
            f"no TFX {_team_run.TAG} checkout at {GIT_DIR}: fetch github:tensorflow/tfx (the "
            "session's fetch tool) or set NANGUARD_TFX_GIT to a git dir holding that tag"
        )
    return GIT_DIR


def _added_lines(stock: str, guarded: str) -> list[str]:
    return [
        d for d in difflib.ndiff(stock.splitlines(), guarded.splitlines()) if d[:2] in ("+ ", "- ")
    ]


@pytest.mark.parametrize("example", sorted(_team_run.EXAMPLES))
def test_the_guard_is_two_added_lines_in_each_tfx_example(example):
    stock = _team_run.git_show(_tfx_sources(), _team_run.EXAMPLES[example]).decode()
    changed = _added_lines(stock, _team_run.guarded_source(stock))
    assert len(changed) == 2 and all(line.startswith("+ ") for line in changed), changed
    assert "guard(model, report_dir=fn_args.model_run_dir)" in changed[1]


@pytest.fixture(scope="module")
def tfx_results(tmp_path_factory):
    git_dir = _tfx_sources()
    work = tmp_path_factory.mktemp("team_run")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.trainer._team_run", str(work), git_dir],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(work / "results.json") as handle:
        return json.load(handle)


@pytest.mark.parametrize("example", sorted(_team_run.EXAMPLES))
def test_tfx_example_stock_exports_nan_and_guarded_exports_finite(tfx_results, example):
    stock, guarded = tfx_results[example]["stock"], tfx_results[example]["guarded"]
    # The stock run_fn trains through the divergence and exports what it holds: NaN weights.
    assert stock["error"] is None, stock["error"]
    assert stock["exported"]["nonfinite"] >= 1
    # The guarded one: the same data, seed and learning rate, finite weights exported.
    assert guarded["error"] is None, guarded["error"]
    assert guarded["exported"]["nonfinite"] == 0
    assert guarded["exported"]["tensors"] == stock["exported"]["tensors"]
    report = guarded["report"]
    assert report["status"] in ("recovered", "stopped")
    assert report["nonfinite_events"] and report["model_kind"] == "functional"
    assert report["lr_changes"][0]["from"] == pytest.approx(_team_run.DIVERGENT_LR, rel=1e-6)


# ---- the two-tower module (ours), in this process ---------------------------------------------

TWO_TOWER_EDITS = [
    ("import tf_keras as keras", "from nanguard.components import guard  # + nanguard"),
    ("    model.fit(", "    model = guard(model, report_dir=fn_args.model_run_dir)  # + nanguard"),
]


def _two_tower(tmp_path, variant: str, learning_rate: float):
    import importlib.util

    from tests.trainer import two_tower_module

    source = Path(two_tower_module.__file__).read_text()
    if variant == "guarded":
        lines = source.splitlines()
        for anchor, new in TWO_TOWER_EDITS:
            lines.insert(lines.index(anchor), new)
        guarded = "\n".join(lines) + "\n"
        assert len(_added_lines(source, guarded)) == 2
        source = guarded
    path = tmp_path / f"two_tower_{variant}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = tmp_path / "clicks.tfrecord"
    if not data.exists():
        module.write_examples(str(data), rows=2000, users=20_000, items=20_000)
    out = tmp_path / variant
    fn_args = types.SimpleNamespace(
        train_files=[str(data)],
        eval_files=[str(data)],
        train_steps=24,
        eval_steps=2,
        serving_model_dir=str(out / "serving"),
        model_run_dir=str(out / "run"),
        custom_config={"learning_rate": learning_rate, "users": 20_000, "items": 20_000},
    )
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    module.run_fn(fn_args)
    report = None
    if (out / "run" / "nanguard_training_health.json").exists():
        report = json.loads((out / "run" / "nanguard_training_health.json").read_text())
    return _team_run.exported_weights(fn_args.serving_model_dir), report


def test_two_tower_stock_exports_nan_and_guarded_exports_finite(tmp_path):
    stock, _ = _two_tower(tmp_path, "stock", _team_run.DIVERGENT_LR)
    assert stock["nonfinite"] >= 1
    guarded, report = _two_tower(tmp_path, "guarded", _team_run.DIVERGENT_LR)
    assert guarded["nonfinite"] == 0 and guarded["tensors"] == stock["tensors"]
    assert report["status"] in ("recovered", "stopped") and report["nonfinite_events"]
    assert report["steps"] <= 24
