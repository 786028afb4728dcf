"""component.py: the stock Transform with nanguard's executor and default functions."""

from __future__ import annotations

import json

from tfx.components.transform import component as transform_component
from tfx.types import Channel, standard_artifacts

from nanguard.components.transform import executor, preprocessing, spec, stats_options
from nanguard.components.transform.component import Transform
from nanguard.components.transform.config import TransformConfig


def _channels():
    return {
        "examples": Channel(type=standard_artifacts.Examples),
        "schema": Channel(type=standard_artifacts.Schema),
    }


def test_defaults_are_nanguards_functions_and_executor():
    config = TransformConfig.from_dict({"features": {"a": {"strategy": "median"}}})
    t = Transform(**_channels(), custom_config=config.custom_config("y"))
    assert isinstance(t, transform_component.Transform)
    assert t.executor_spec.executor_class is executor.Executor
    props = t.exec_properties
    assert props["preprocessing_fn"] == spec.PREPROCESSING_FN
    assert props["stats_options_updater_fn"] == spec.STATS_OPTIONS_UPDATER_FN
    assert json.loads(props["custom_config"]) == {"label_key": "y", **config.to_dict()}
    # TFT's TF1 graph mode (one trace); a team may still ask for TF2 mode.
    assert props["force_tf_compat_v1"] == 1
    off = Transform(**_channels(), force_tf_compat_v1=False).exec_properties
    assert off["force_tf_compat_v1"] == 0
    # The dotted paths name the real functions.
    mod, _, fn = spec.PREPROCESSING_FN.rpartition(".")
    assert getattr(preprocessing, fn) and mod == preprocessing.__name__
    mod, _, fn = spec.STATS_OPTIONS_UPDATER_FN.rpartition(".")
    assert getattr(stats_options, fn) and mod == stats_options.__name__


def test_module_file_overrides_both_functions():
    t = Transform(**_channels(), module_file="/team/prep.py")
    assert t.exec_properties["module_file"] == "/team/prep.py"
    assert t.exec_properties.get("preprocessing_fn") is None
    assert t.exec_properties.get("stats_options_updater_fn") is None
    assert t.exec_properties["force_tf_compat_v1"] == 0  # a team's module keeps TFX's default
