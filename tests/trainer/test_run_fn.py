"""run_fn on a real tf.Transform output: training, the health report on disk, the export.

No pipeline runner: `_shared.transformed()` writes a transform graph and transformed TFRecords,
and `run_fn` is called with a TFX `FnArgs` built as the Trainer executor builds it.
"""

from __future__ import annotations

import numpy as np
import pytest

from nanguard.components import vocab
from nanguard.components.errors import InputError
from nanguard.components.trainer import health
from nanguard.components.trainer import run_fn as trainer
from tests.trainer import _shared
from tests.trainer._shared import LABEL


@pytest.fixture(scope="module")
def transformed():
    return _shared.transformed()


def test_run_fn_healthy_exports_finite_model_and_report(transformed, tmp_path):
    args = _shared.fn_args(transformed, tmp_path, {"epochs": 4})
    trainer.run_fn(args)
    report = _shared.run_report(tmp_path)
    assert report["status"] == "ok" and report["exported"] is True
    assert report["nonfinite_events"] == [] and report["recoveries"] == 0
    assert len(report["loss_per_epoch"]) == 4
    assert report["steps"] == 40  # 4 epochs x 10 steps
    assert report["loss_per_epoch"][-1] < report["loss_per_epoch"][0]
    assert 0 < report["max_grad_norm"] < float("inf")
    # The report's config: the label and the section as run (steps from TrainArgs/EvalArgs).
    assert report["config"]["label_key"] == LABEL
    assert report["config"]["epochs"] == 4
    assert (report["config"]["train_steps"], report["config"]["eval_steps"]) == (40, 5)
    # EvalArgs' 5 batches are the run's budget, like TrainArgs': one per epoch, not 5 x 4.
    assert report["validation_steps_per_epoch"] == 1
    assert [set(e) >= {"val_loss", "val_accuracy"} for e in report["epochs"]] == [True] * 4
    probs = _shared.serve(args.serving_model_dir, transformed["frame"])
    n_species = transformed["frame"][LABEL].nunique()
    assert probs.shape == (len(transformed["frame"].dropna()), n_species)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_run_fn_recovers_from_learning_rate_1e5(transformed, tmp_path):
    config = {
        "epochs": 4,
        "optimizer": "sgd",
        "learning_rate": 1e5,  # diverges at steps 3 and 8 on the sorted records
        "global_clipnorm": None,
        "snapshot_every": 5,
        "max_recoveries": 8,
    }
    args = _shared.fn_args(transformed, tmp_path, config)
    trainer.run_fn(args)
    report = _shared.run_report(tmp_path)
    assert report["status"] == "recovered" and report["exported"] is True
    events = report["nonfinite_events"]
    assert len(events) >= 1 and all(e["action"] == "recovered" for e in events)
    assert report["recoveries"] == len(events) == len(report["lr_changes"])
    for change in report["lr_changes"]:
        assert change["to"] == pytest.approx(change["from"] * 0.1, rel=1e-5)
    assert report["final_learning_rate"] == pytest.approx(1e5 * 0.1 ** len(events), rel=1e-4)
    assert all(e["diagnosis"]["stage"] != "not_reproduced" for e in events)
    # A diverged step's loss is written in vocab's spelling (strict JSON, read back by as_float).
    losses = [e["diagnosis"]["loss"] for e in events]
    assert all(isinstance(v, float) or v in (vocab.NAN, vocab.POS_INF) for v in losses)
    sq_norms = [g["sq_norm"] for e in events for g in e["diagnosis"]["nonfinite_gradients"]]
    assert all(v in (vocab.NAN, vocab.POS_INF) for v in sq_norms)
    probs = _shared.serve(args.serving_model_dir, transformed["frame"])
    assert np.isfinite(probs).all()


def test_run_fn_without_label_is_an_input_error(transformed, tmp_path):
    args = _shared.fn_args(transformed, tmp_path, {"epochs": 1}, label=None)
    with pytest.raises(InputError, match="custom_config has no label_key"):
        trainer.run_fn(args)
    args = _shared.fn_args(transformed, tmp_path, {"epochs": 1}, label="")
    with pytest.raises(InputError, match="custom_config has no label_key"):
        trainer.run_fn(args)
    # Nothing trained, nothing written.
    assert not (tmp_path / "run").exists() and not (tmp_path / "serving").exists()


def test_run_fn_label_not_transformed_is_an_input_error(transformed, tmp_path):
    args = _shared.fn_args(transformed, tmp_path, {"epochs": 1}, label="body_mass_g")
    with pytest.raises(InputError, match=r"label_key 'body_mass_g'.*island"):
        trainer.run_fn(args)
    assert not (tmp_path / "run" / health.HEALTH_REPORT_FILE).exists()


def test_run_fn_bad_config_key_is_an_input_error(transformed, tmp_path):
    args = _shared.fn_args(transformed, tmp_path, {"learning_rat": 0.1})
    with pytest.raises(InputError, match="learning_rat"):
        trainer.run_fn(args)
