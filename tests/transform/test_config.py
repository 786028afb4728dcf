"""config.py: the `transform:` section, declared and validated once (TransformConfig)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from nanguard.components import vocab
from nanguard.components.errors import InputError
from nanguard.components.transform.config import (
    SCALERS,
    STRATEGIES,
    EmConfig,
    FeatureConfig,
    KnnConfig,
    TransformConfig,
)


def test_config_errors_name_the_key():
    with pytest.raises(InputError, match=r"transform.features.bill.strategy: 'mode' is not"):
        TransformConfig.from_dict({"features": {"bill": {"strategy": "mode"}}})
    with pytest.raises(InputError, match=r"transform.features.bill: unknown key\(s\) \['fill'\]"):
        TransformConfig.from_dict({"features": {"bill": {"fill": 1}}})
    with pytest.raises(InputError, match="transform.defaults.numeric.clip_quantiles"):
        TransformConfig.from_dict({"defaults": {"numeric": {"clip_quantiles": [0.9, 0.1]}}})
    cfg = TransformConfig.from_dict(None)
    assert cfg.defaults.numeric.to_dict() == {
        "strategy": "auto",
        "fill_value": None,
        "add_indicator": True,
        "scale": "z_score",
        "clip_quantiles": None,
    }


@pytest.mark.parametrize(
    "values, where, allowed",
    [
        ({"features": {"a": {"strategy": "mode"}}}, "transform.features.a.strategy", STRATEGIES),
        (
            {"defaults": {"numeric": {"strategy": "mode"}}},
            "transform.defaults.numeric.strategy",
            STRATEGIES,
        ),
        ({"features": {"a": {"scale": "log"}}}, "transform.features.a.scale", SCALERS),
        ({"defaults": {"string": {"scale": "log"}}}, "transform.defaults.string.scale", SCALERS),
        ({"inf": "fail"}, "transform.inf", vocab.TRANSFORM_INF_POLICIES),
    ],
)
def test_bad_choice_names_the_key_path_and_the_allowed_values(values, where, allowed):
    with pytest.raises(InputError) as e:
        TransformConfig.from_dict(values)
    assert str(e.value).startswith(f"{where}: ")
    assert str(list(allowed))[:-1] in str(e.value)  # the declared values (then null, if allowed)


@pytest.mark.parametrize(
    "clip, where",
    [
        ([0.9, 0.1], "transform.features.a.clip_quantiles: [0.9, 0.1] is not allowed"),
        ([0.5, 0.5], "transform.features.a.clip_quantiles: [0.5, 0.5] is not allowed"),
        ([0.1], "transform.features.a.clip_quantiles: [0.1] is not allowed"),
        ([0.1, 1.5], "transform.features.a.clip_quantiles[1]: 1.5 is not allowed"),
        ([-0.1, 0.5], "transform.features.a.clip_quantiles[0]: -0.1 is not allowed"),
        ("0.1,0.9", "transform.features.a.clip_quantiles: '0.1,0.9' is not allowed"),
    ],
)
def test_bad_clip_quantiles_name_the_key_path(clip, where):
    with pytest.raises(InputError) as e:
        TransformConfig.from_dict({"features": {"a": {"clip_quantiles": clip}}})
    assert str(e.value).startswith(where)


@pytest.mark.parametrize(
    "knn, where",
    [
        ({"n_neighbors": 0}, "transform.knn.n_neighbors"),
        ({"sample_size": 1.5}, "transform.knn.sample_size"),
        ({"seed": "x"}, "transform.knn.seed"),
        ({"k": 3}, "transform.knn: unknown key(s) ['k']"),
    ],
)
def test_bad_knn_names_the_key_path(knn, where):
    with pytest.raises(InputError) as e:
        TransformConfig.from_dict({"knn": knn})
    assert str(e.value).startswith(where)


def test_defaults_merge_over_nanguards():
    cfg = TransformConfig.from_dict({"defaults": {"numeric": {"strategy": "median"}}})
    num = cfg.feature("bill", "numeric")
    assert (num.strategy, num.scale, num.add_indicator) == ("median", "z_score", True)
    s = cfg.feature("island", "string")
    assert (s.strategy, s.add_indicator, s.scale) == ("most_frequent", False, None)


def test_feature_override_over_kind_default():
    cfg = TransformConfig.from_dict(
        {
            "defaults": {"numeric": {"scale": "robust"}},
            "features": {"bill": {"strategy": "constant", "fill_value": 7}},
        }
    )
    bill = cfg.feature("bill", "numeric")
    assert bill == FeatureConfig(
        strategy="constant", fill_value=7.0, add_indicator=True, scale="robust"
    )
    assert cfg.feature("other", "numeric").strategy == "auto"
    assert cfg.feature("other", "numeric").scale == "robust"
    # A null key in an override keeps the default.
    cfg = TransformConfig.from_dict({"features": {"bill": {"scale": None, "strategy": "mean"}}})
    assert cfg.feature("bill", "numeric").scale == "z_score"


def test_custom_config_round_trip_carries_the_label():
    cfg = TransformConfig.from_dict({"inf": "clip", "exclude": ["year"], "knn": {"n_neighbors": 3}})
    custom = cfg.custom_config("species")
    assert custom["label_key"] == "species"
    label, back = TransformConfig.from_custom_config(custom)
    assert (label, back) == ("species", cfg)
    assert back.knn == KnnConfig(n_neighbors=3)
    assert TransformConfig.from_custom_config(None) == (vocab.NO_LABEL, TransformConfig())


def test_a_teams_own_preprocessing_fn_takes_the_other_keys_unchecked():
    cfg = TransformConfig.from_dict({"preprocessing_fn": "team.prep.fn", "anything": [1]})
    assert cfg.custom_config("y") == {"label_key": "y", "anything": [1]}


def test_example_yaml_transform_section_is_valid():
    path = pathlib.Path(__file__).parents[2] / "pipelines" / "nanguard.example.yaml"
    section = yaml.safe_load(path.read_text()).get("transform")
    cfg = TransformConfig.from_dict(section)
    assert cfg.defaults.numeric.strategy in STRATEGIES


@pytest.mark.parametrize(
    "values, where",
    [
        ({"em": {"iterations": 0}}, "transform.em.iterations: 0 is not allowed"),
        ({"em": {"iterations": 2.5}}, "transform.em.iterations: 2.5 is not allowed"),
        ({"em": {"tolerance": -1}}, "transform.em.tolerance: -1 is not allowed"),
        ({"em": {"ridge": 0}}, "transform.em.ridge: 0 is not allowed"),
        ({"em": {"steps": 3}}, "transform.em: unknown key(s) ['steps']"),
        ({"range_margin": -0.5}, "transform.range_margin: -0.5 is not allowed"),
        ({"range_margin": float("inf")}, "transform.range_margin: inf is not allowed"),
        ({"defaults": {"string": {"strategy": "em"}}}, "transform.defaults.string.strategy"),
    ],
)
def test_em_and_range_margin_keys_name_the_key_path(values, where):
    with pytest.raises(InputError) as e:
        TransformConfig.from_dict(values)
    assert str(e.value).startswith(where)


def test_em_and_range_margin_defaults_and_round_trip():
    cfg = TransformConfig.from_dict({"em": {"iterations": 4}, "range_margin": 1})
    assert cfg.em == EmConfig(iterations=4, tolerance=1e-4, ridge=1e-6)
    assert cfg.range_margin == 1.0 and TransformConfig().range_margin == 3.0
    assert "em" in STRATEGIES and cfg.feature("x", "numeric").strategy == "auto"
    assert TransformConfig.from_custom_config(cfg.custom_config("y")) == ("y", cfg)
