"""component.py / spec.py: DataGuard carries one validated config as JSON."""

from __future__ import annotations

import json

import pytest
from tfx.dsl.components.common import importer
from tfx.types import standard_artifacts

from nanguard.components.data_guard import DataGuard, DataGuardConfig
from nanguard.components.data_guard.spec import CONFIG_KEY, DataGuardSpec
from nanguard.components.errors import InputError


def _examples():
    return importer.Importer(source_uri="/nowhere", artifact_type=standard_artifacts.Examples)


def test_config_is_validated_once_and_carried_as_json():
    guard = DataGuard(
        examples=_examples().outputs["result"],
        label_key="species",
        config={"mode": "warn", "inf": "clip", "max_missing_fraction_by_feature": {"x": 0.5}},
    )
    props = guard.exec_properties
    assert set(DataGuardSpec.PARAMETERS) == {"label_key", "config", "exclude_splits"}
    assert props["label_key"] == "species" and json.loads(props["exclude_splits"]) == []
    config = DataGuardConfig.from_json(props[CONFIG_KEY])
    # No absolute missing limit by default (gaps are imputed); per-feature limits are kept.
    assert (config.mode, config.inf, config.max_missing_fraction) == ("warn", "clip", None)
    assert config.max_missing_fraction_by_feature == {"x": 0.5}
    default = DataGuard(examples=_examples().outputs["result"])
    assert DataGuardConfig.from_json(default.exec_properties[CONFIG_KEY]) == DataGuardConfig()
    assert default.exec_properties["label_key"] == ""


def test_bad_config_fails_at_build_time_naming_the_key():
    with pytest.raises(InputError, match=r"data_guard\.mode: 'stop'"):
        DataGuard(examples=_examples().outputs["result"], config={"mode": "stop"})
    with pytest.raises(InputError, match=r"unknown key\(s\) \['max_nan'\]"):
        DataGuard(examples=_examples().outputs["result"], config={"max_nan": 1})


def test_policy_is_a_deprecated_alias_of_config():
    with pytest.warns(DeprecationWarning, match="config="):
        guard = DataGuard(examples=_examples().outputs["result"], policy={"label": "block"})
    # The old key `label` is read as `unlabelled_rows` (a logged deprecation warning).
    assert DataGuardConfig.from_json(guard.exec_properties[CONFIG_KEY]).unlabelled_rows == "block"
