"""The trainer section: validation names the key; the label travels beside it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nanguard.components.errors import InputError
from nanguard.components.trainer.config import NONFINITE_POLICIES, TrainerConfig


def test_config_validation_names_key():
    with pytest.raises(InputError, match="nonfinite_policy") as info:
        TrainerConfig.from_dict({"nonfinite_policy": "ignore"})
    assert all(policy in str(info.value) for policy in NONFINITE_POLICIES)
    with pytest.raises(InputError, match="learning_rat"):
        TrainerConfig.from_dict({"learning_rat": 0.1})
    label, config = TrainerConfig.from_custom_config({"hidden_units": [4], "label_key": "y"})
    assert config.hidden_units == (4,) and label == "y"


def test_custom_config_round_trip_and_missing_label():
    config = TrainerConfig.from_dict({"epochs": 3, "nonfinite_policy": "stop"})
    label, back = TrainerConfig.from_custom_config(config.custom_config("species"))
    assert (label, back) == ("species", config)
    label, back = TrainerConfig.from_custom_config({"epochs": 3})
    assert label == "" and back.epochs == 3  # run_fn turns the empty label into InputError


def test_config_imports_no_tensorflow():
    code = (
        "import sys, nanguard.components.trainer.config, nanguard.components.trainer.summary;"
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tensorflow_data_validation') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
