"""nanguard's configurable, NaN-safe `preprocessing_fn` for the stock TFX Transform component.

OUTPUT CONTRACT (the trainer depends on it):

- numeric (float or int) feature `f` -> output `f`: float32, dense, shape [batch], always
  finite (absent, NaN and Inf values are imputed; results are clipped to the float32 range).
- with `add_indicator` (default for numeric features) -> `f_missing`: float32 dense [batch],
  1.0 where the value was absent, NaN, or Inf treated as missing, else 0.0.
- string feature `f` -> output `f`: int64 dense [batch], from
  `tft.compute_and_apply_vocabulary(imputed, vocab_filename=f, num_oov_buckets=1)` after
  imputation; the number of buckets is `tf_transform_output.vocabulary_size_by_name(f) + 1`.
- the label (`label_key`): a string label -> int64 [batch] index into the vocabulary file named
  `label_key` (no OOV bucket; a missing or unknown label -> -1); a numeric label -> float32
  [batch], not imputed: absent, NaN and Inf labels are NaN (the trainer drops those rows).

Use it as `Transform(preprocessing_fn='nanguard.components.transform.preprocessing.'
'preprocessing_fn', custom_config={...})`. The config (JSON-able; all keys optional):

    {"label_key": "species",
     "inf": "treat_as_missing",              # or "clip"
     "defaults": {"numeric": {"strategy": "auto", "scale": "z_score", "add_indicator": true},
                  "string": {"strategy": "most_frequent"}},
     "features": {"body_mass_g": {"strategy": "median", "scale": "robust",
                                  "clip_quantiles": [0.01, 0.99]}},
     "exclude": ["year"],                    # raw features not passed to the model
     "knn": {"n_neighbors": 5, "sample_size": 1000, "seed": 0}}

Per-feature keys: strategy, fill_value, add_indicator, scale, clip_quantiles. Every feature's
learned values and choices are recorded in the output schema (see `record.py`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from nanguard.components.transform import _stats, knn, record
from nanguard.components.transform import imputation as impute_lib
from nanguard.components.transform import scaling as scale

DEFAULT_CONFIG: dict[str, Any] = {
    "label_key": None,
    "inf": "treat_as_missing",
    "defaults": {
        "numeric": {"strategy": "auto", "scale": "z_score", "add_indicator": True},
        "string": {"strategy": "most_frequent", "add_indicator": False},
    },
    "features": {},
    "exclude": [],
    "knn": {"n_neighbors": 5, "sample_size": 1000, "seed": 0},
}
_FEATURE_KEYS = {"strategy", "fill_value", "add_indicator", "scale", "clip_quantiles"}
_TOP_KEYS = set(DEFAULT_CONFIG)
INDICATOR_SUFFIX = "_missing"


def resolve_config(custom_config: dict[str, Any] | None) -> dict[str, Any]:
    """Merges a user config over DEFAULT_CONFIG and validates it (errors name the key/feature)."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    user = dict(custom_config or {})
    unknown = set(user) - _TOP_KEYS
    if unknown:
        raise ValueError(
            f"Unknown transform config keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}."
        )
    for key, value in user.items():
        if key in ("defaults", "knn") and value:
            for sub, sub_value in value.items():
                if key == "defaults":
                    if sub not in ("numeric", "string"):
                        raise ValueError(
                            f"transform config defaults.{sub}: use 'numeric' or 'string'."
                        )
                    config["defaults"][sub].update(sub_value or {})
                else:
                    config["knn"][sub] = sub_value
        elif value is not None:
            config[key] = value
    for kind, cfg in config["defaults"].items():
        _validate_feature_cfg(f"defaults.{kind}", cfg)
    for name, cfg in (config["features"] or {}).items():
        _validate_feature_cfg(f"features.{name}", cfg or {})
    if config["inf"] not in _stats.INF_POLICIES:
        raise ValueError(
            f"transform config 'inf' is {config['inf']!r}; use one of {_stats.INF_POLICIES}."
        )
    return config


def _validate_feature_cfg(where: str, cfg: dict[str, Any]) -> None:
    unknown = set(cfg) - _FEATURE_KEYS
    if unknown:
        raise ValueError(
            f"transform config {where}: unknown keys {sorted(unknown)}; allowed: "
            f"{sorted(_FEATURE_KEYS)}."
        )
    if "strategy" in cfg and cfg["strategy"] not in impute_lib.STRATEGIES:
        raise ValueError(
            f"transform config {where}: strategy {cfg['strategy']!r} is not one of "
            f"{impute_lib.STRATEGIES}."
        )
    if "scale" in cfg or "clip_quantiles" in cfg:
        try:
            scale.check_method(cfg.get("scale", "none"), cfg.get("clip_quantiles"))
        except ValueError as e:
            raise ValueError(f"transform config {where}: {e}") from e


def _feature_cfg(config: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    cfg = dict(config["defaults"][kind])
    cfg.update(config["features"].get(name) or {})
    return cfg


def _label(x: Any, label_key: str) -> tf.Tensor:
    values, present = _stats.densify(x)
    if values.dtype == tf.string:
        present &= tf.strings.length(values) > 0
        vocab = tft.vocabulary(tf.boolean_mask(values, present), vocab_filename=label_key)
        ids = tft.apply_vocabulary(values, vocab, default_value=-1, num_oov_buckets=0)
        return tf.where(present, ids, tf.constant(-1, tf.int64))
    values = tf.cast(values, tf.float32)
    ok = present & tf.math.is_finite(values)
    return tf.where(ok, values, tf.constant(math.nan, tf.float32))


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict:
    """NaN-safe preprocessing: imputes, scales and encodes every raw feature (see module doc).

    Args:
      inputs: raw features from Transform (dense, SparseTensor or RaggedTensor; CSV gaps arrive
        as absent values).
      custom_config: the config described in the module docstring; None or {} uses the defaults.

    Returns:
      The outputs of the contract above: numeric outputs and indicators are finite float32;
      NaN and Inf never reach them (only a numeric label may be NaN, meaning "drop this row").
    """
    config = resolve_config(custom_config)
    label_key = config["label_key"]
    inf = config["inf"]
    unknown = set(config["features"]) - set(inputs)
    if unknown:
        logging.warning(
            "Transform config names features that are not in the input: %s", sorted(unknown)
        )
    outputs: dict[str, tf.Tensor] = {}
    numeric: dict[str, tuple[Any, ...]] = {}
    specs: dict[str, _stats.StatsSpec] = {}
    for name in sorted(inputs):
        x = inputs[name]
        if name in config["exclude"]:
            continue
        if name == label_key:
            outputs[name] = _label(x, label_key)
            continue
        with tf.name_scope(f"nanguard_{name}"):
            if x.dtype == tf.string:
                cfg = _feature_cfg(config, name, "string")
                imputed, missing, info = impute_lib.impute_string(
                    x, cfg.get("strategy", "most_frequent"), cfg.get("fill_value")
                )
                outputs[name] = tft.compute_and_apply_vocabulary(
                    imputed, vocab_filename=name, num_oov_buckets=1
                )
                if cfg.get("add_indicator"):
                    outputs[name + INDICATOR_SUFFIX] = tf.cast(missing, tf.float32)
                info["kind"] = "string"
                info["vocabulary"] = name
                outputs[name] = record.attach_record(outputs[name], name, info)
                continue
            cfg = _feature_cfg(config, name, "numeric")
            strategy = cfg.get("strategy", "auto")
            values, finite, missing = impute_lib.prepare_numeric(x, inf)
            needs = scale.merge_needs(
                impute_lib.numeric_needs(strategy, inf),
                scale.scale_needs(cfg.get("scale", "z_score"), cfg.get("clip_quantiles")),
            )
            specs[name] = _stats.StatsSpec(
                tf.where(finite, values, tf.constant(math.nan, tf.float64)),
                wide_range=x.dtype == tf.float64,
                **needs,
            )
            numeric[name] = (values, finite, missing, cfg)
    # All numeric statistics in one stacked analyzer per kind (not one per feature).
    with tf.name_scope("nanguard_stats"):
        all_stats = _stats.compute_many(specs)
    knn_prepared, knn_stats, knn_cfgs = {}, {}, {}
    for name, (values, finite, missing, cfg) in numeric.items():
        with tf.name_scope(f"nanguard_{name}"):
            stats = all_stats[name]
            strategy = cfg.get("strategy", "auto")
            if cfg.get("add_indicator"):
                outputs[name + INDICATOR_SUFFIX] = tf.cast(missing, tf.float32)
            if strategy == "knn":
                knn_prepared[name] = (values, finite, missing)
                knn_stats[name] = stats
                knn_cfgs[name] = cfg
                continue
            imputed, info = impute_lib.impute_numeric(
                values, finite, missing, stats, strategy, cfg.get("fill_value"), inf
            )
            outputs[name] = _finish_numeric(name, imputed, stats, cfg, info)
    if knn_prepared:
        k = config["knn"]
        with tf.name_scope("nanguard_knn"):
            filled, infos = knn.knn_impute_prepared(
                knn_prepared,
                knn_stats,
                n_neighbors=int(k.get("n_neighbors", 5)),
                sample_size=int(k.get("sample_size", 1000)),
                seed=int(k.get("seed", 0)),
                inf=inf,
            )
            for name in sorted(filled):
                outputs[name] = _finish_numeric(
                    name, filled[name], knn_stats[name], knn_cfgs[name], infos[name]
                )
    return outputs


def _finish_numeric(
    name: str,
    imputed: tf.Tensor,
    stats: _stats.NumericStats,
    cfg: dict[str, Any],
    info: dict[str, Any],
) -> tf.Tensor:
    y, scale_info = scale.scale_values(
        imputed, stats, cfg.get("scale", "z_score"), cfg.get("clip_quantiles")
    )
    info.update(scale_info)
    info["kind"] = "numeric"
    info["add_indicator"] = bool(cfg.get("add_indicator"))
    return record.attach_record(_stats.to_float32_finite(y), name, info)
