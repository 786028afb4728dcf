"""The gate on a model exported with `trainer.nonfinite_input: reject`: the evaluation rows,
NaN and all, go through `serving_repair`; the NaN/Inf probes sent to `serving_default` are
refused with nanguard's INVALID_ARGUMENT, which is `rejected`, not a failure."""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components import profiles
from nanguard.components.gate import core, records
from nanguard.components.gate.config import GateConfig
from nanguard.components.gate.signature import ModelSignature, data_signature_name
from nanguard.components.trainer import export
from tests.trainer import _serving_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(repairing model dir, rejecting model dir): the same trained model exported twice."""
    tmp = str(tmp_path_factory.mktemp("reject_gate"))
    tft_out, _, ranges, model = _serving_model.build(tmp)
    rejecting = os.path.join(tmp, "rejecting")
    export.export_model(
        model, tft_out, _serving_model.LABEL, rejecting, ranges=ranges, nonfinite_input="reject"
    )
    return os.path.join(tmp, "serving"), rejecting


def _table(n: int = 40) -> pa.Table:
    bill = np.linspace(35.0, 50.0, n)
    bill[::4] = math.nan
    bill[1] = math.inf
    return pa.table(
        {
            "bill": bill,
            "mass": np.linspace(3500.0, 4500.0, n),
            "island": [["Biscoe", "Dream"][i % 2] for i in range(n)],
        }
    )


def test_the_data_signature_is_serving_repair_only_for_a_rejecting_model(models):
    repairing, rejecting = models
    assert data_signature_name(rejecting, "serving_default") == "serving_repair"
    assert data_signature_name(repairing, "serving_default") == "serving_default"
    assert data_signature_name(rejecting, "transform_features") == "transform_features"
    signature = ModelSignature(rejecting, "serving_default")
    assert signature.for_data().signature_name == "serving_repair"


@pytest.mark.parametrize("path", ["local", "beam"])
def test_a_rejecting_model_is_blessed_with_its_nan_probes_rejected(models, tmp_path, path):
    repairing, rejecting = models
    table = _table()
    config = GateConfig().replace(batch_size=16)
    feature_profiles = profiles.profiles_from_table(table)
    if path == "local":
        report = core.check_tables(rejecting, {"eval": table}, config, profiles=feature_profiles)
    else:
        report = core.check_model(
            rejecting,
            {"eval": records.table_to_examples(table)},
            config,
            profiles=feature_profiles,
            work_dir=str(tmp_path),
        )
    assert report["examples"] == 40 and report["non_finite"] == 0
    assert report["probes_failed"] == [] and report["blessed"] is True
    refused = {
        f"{family}:{name}" for family in ("nan", "pos_inf", "neg_inf") for name in ("bill", "mass")
    }
    assert refused <= set(report["probes_rejected"])
    # The repairing model answers the same probes: none of them is rejected.
    repaired = core.check_tables(repairing, {"eval": table}, config, profiles=feature_profiles)
    assert not refused & set(repaired["probes_rejected"]) and repaired["blessed"] is True
    assert repaired["probes_run"] == report["probes_run"]
