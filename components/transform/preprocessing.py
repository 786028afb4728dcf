"""nanguard's configurable, NaN-safe `preprocessing_fn` for the stock TFX Transform component.

OUTPUT CONTRACT (the trainer depends on it):

- numeric (float or int) feature `f` -> output `f`: float32, dense, shape [batch], always
  finite and within its safe range: absent, NaN and Inf values are imputed, then the scaled
  value is clipped to [output_low, output_high] = the training range (and fill value) widened by
  `range_margin` spreads on each side, within the float32 range (recorded per feature).
- with `add_indicator` (default for numeric features) -> `f_missing`: float32 dense [batch],
  1.0 where the value was absent, NaN, or Inf treated as missing, else 0.0.
- string feature `f` -> output `f`: int64 dense [batch], the imputed value's index in the
  vocabulary file `tf_name(f)` (learned from the present values, plus a constant fill; one OOV
  bucket), in the same analysis pass as every other statistic; the number of buckets is
  `tf_transform_output.vocabulary_size_by_name(tf_name(f)) + 1`.
- names: output keys are the original column names, whatever characters they hold (spaces,
  units, dots, slashes, non-ASCII, 200 characters); name scopes and vocabulary file names use
  `nanguard.components.names.tf_name(f)` (`f` itself for a plain name such as `body_mass_g`).
- the label (`label_key`), by the task (`task` in custom_config; none: by dtype): under
  classification -> int64 [batch] index into the vocabulary file named `tf_name(label_key)` (a
  numeric label through its shortest decimal string; no OOV bucket; a missing, NaN, Inf or
  unknown label -> -1); under regression -> float32 [batch], standardised with the training
  split's mean and standard deviation (full-pass analyzers over the finite labels; a spread of 0
  or none at all is taken as 1), not imputed: absent, NaN and Inf labels are NaN (the trainer
  drops those rows). The label's record (`components/transform_record.py`, under `"label"`)
  holds the mean and spread
  the serving signature uses to return predictions in the label's own units (regression), or
  the training split's labelled rows and majority class and rate (classification).

Use it as `Transform(preprocessing_fn='nanguard.components.transform.preprocessing.'
'preprocessing_fn', custom_config=TransformConfig(...).custom_config(label_key))`: the config is
the `transform:` section (`config.py`: `inf`, `defaults.numeric` / `defaults.string`,
`features.<name>`, `exclude`, `knn`, `em`, `range_margin`), declared and validated there once;
`label_key` rides along.
Every feature's learned values and choices are recorded in the transform graph
(`components/transform_record.py`).
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from nanguard.components import task as task_lib
from nanguard.components import transform_record as record
from nanguard.components import vocab
from nanguard.components.errors import InputError
from nanguard.components.names import tf_name, tf_names
from nanguard.components.transform import _stats, _tensors
from nanguard.components.transform import imputation as impute_lib
from nanguard.components.transform import scaling as scale
from nanguard.components.transform.config import JOINT_STRATEGIES, FeatureConfig, TransformConfig

INDICATOR_SUFFIX = "_missing"
TASK_KEY = vocab.TASK_KEY  # custom_config key of the task (`custom_config(label, task)`)


def _label(x: Any, label_key: str, task: str | None = None) -> tf.Tensor:
    """The label under `task` ('classification', 'regression'; None: by dtype, text ->
    classification, numbers -> regression), with its record attached (`transform_record.py`).

    Classification: an int64 index into the vocabulary file `tf_name(label_key)` (no OOV
    bucket; ordered by training frequency, so index 0 is the training split's majority class),
    built from the label's text; a numeric label enters through its shortest decimal string
    (`1`, `0.5`, so `1` and `1.0` are one class); absent, empty, NaN or Inf -> -1 (the row is
    dropped by the trainer). Regression: float32 (y - mean) / std with the training split's mean
    and standard deviation of the finite labels (`_standardise`); absent, NaN and Inf -> NaN.

    Raises:
      ValueError: regression on a text label.
    """
    values, present = _tensors.densify(x)
    if task is None:
        task = task_lib.CLASSIFICATION if values.dtype == tf.string else task_lib.REGRESSION
    if task == task_lib.CLASSIFICATION:
        if values.dtype != tf.string:
            if values.dtype.is_floating:
                present &= tf.math.is_finite(values)
                values = tf.strings.as_string(values, shortest=True)
            else:  # `shortest` is for floats only
                values = tf.strings.as_string(values)
        present &= tf.strings.length(values) > 0
        labelled = tf.boolean_mask(values, present)
        vocab = tft.vocabulary(labelled, vocab_filename=tf_name(label_key))
        ids = tft.apply_vocabulary(values, vocab, default_value=-1, num_oov_buckets=0)
        ids = tf.where(present, ids, tf.constant(-1, tf.int64))
        return record.attach_record(ids, label_key, _class_counts(labelled))
    if values.dtype == tf.string:
        raise ValueError(
            f"label {label_key!r} holds text; task regression needs a numeric label "
            "(set task: classification)"
        )
    scaled, info = _standardise(values, present)
    return record.attach_record(scaled, label_key, info)


def _class_counts(labelled: tf.Tensor) -> dict[str, Any]:
    """The label's record under classification: labelled training rows, the majority class and
    its rate (the accuracy of always predicting it on the training split; NaN with no label)."""
    keys, counts = tft.count_per_key(labelled)
    # A zero-count blank entry keeps argmax defined when no row has a label.
    keys = tf.concat([keys, tf.constant([""])], 0)
    counts = tf.concat([counts, tf.constant([0], tf.int64)], 0)
    total = tf.reduce_sum(counts)
    top = tf.argmax(counts)
    rate = tf.cast(counts[top], tf.float64) / tf.cast(total, tf.float64)
    return {
        "kind": "label",
        "task": task_lib.CLASSIFICATION,
        "labelled": total,
        "majority_class": keys[top],
        "majority_rate": tf.where(total > 0, rate, tf.constant(math.nan, tf.float64)),
    }


def _standardise(values: tf.Tensor, present: tf.Tensor) -> tuple[tf.Tensor, dict[str, Any]]:
    """(float32 (y - mean) / std, the label's record): mean and population standard deviation
    of the finite labels of the analysed (training) split, in float64.

    A label with no finite value is centred at 0; a spread that is 0, NaN or Inf is taken as 1
    (the label is then only shifted). Absent, NaN and Inf labels stay NaN (rows to drop).
    """
    values = tf.cast(values, tf.float64)
    ok = present & tf.math.is_finite(values)
    finite = tf.boolean_mask(values, ok)
    mean = tft.mean(finite, output_dtype=tf.float64)
    std = tf.sqrt(tft.var(finite, output_dtype=tf.float64))
    center = tf.where(tf.math.is_finite(mean), mean, tf.constant(0.0, tf.float64))
    spread = tf.where(tf.math.is_finite(std) & (std > 0), std, tf.constant(1.0, tf.float64))
    scaled = tf.cast((values - center) / spread, tf.float32)
    scaled = tf.where(ok & tf.math.is_finite(scaled), scaled, tf.constant(math.nan, tf.float32))
    info = {
        "kind": "label",
        "task": task_lib.REGRESSION,
        "labelled": tft.size(finite),
        "mean": center,
        "std": spread,
    }
    return scaled, info


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict:
    """NaN-safe preprocessing: imputes, scales and encodes every raw feature (see module doc).

    Args:
      inputs: raw features from Transform (dense, SparseTensor or RaggedTensor; CSV gaps arrive
        as absent values).
      custom_config: `TransformConfig.custom_config(label_key)`, i.e. the `transform:` section
        plus `label_key`, and optionally `task` ('classification' or 'regression', see
        `_label`); None or {} uses the defaults (and no label).

    Returns:
      The outputs of the contract above: numeric outputs and indicators are finite float32;
      NaN and Inf never reach them (only a numeric label may be NaN, meaning "drop this row").

    Raises:
      InputError: a config key or value outside TransformConfig's declared ones (names the key),
        or a column named like another column's indicator (`f` and `f_missing`).
    """
    custom_config = dict(custom_config or {})
    task = custom_config.pop(TASK_KEY, None)  # set by create_pipeline next to label_key
    label_key, config = TransformConfig.from_custom_config(custom_config)
    inf = config.inf
    unknown = set(config.features) - set(inputs)
    if unknown:
        logging.warning(
            "Transform config names features that are not in the input: %s", sorted(unknown)
        )
    _check_indicator_names(inputs, config, label_key)
    # Output keys stay the original column names; scopes and vocabulary files use tf_names.
    scope = {name: f"nanguard_{safe}" for name, safe in tf_names(inputs).items()}
    outputs: dict[str, tf.Tensor] = {}
    numeric: dict[str, FeatureConfig] = {}
    strings: dict[str, FeatureConfig] = {}
    for name in sorted(inputs):
        x = inputs[name]
        if name in config.exclude:
            continue
        if name == label_key:
            outputs[name] = _label(x, label_key, task)
        elif x.dtype == tf.string:
            strings[name] = config.feature(name, "string")
        else:
            numeric[name] = config.feature(name, "numeric")
    string_blocks: dict[tuple, list[str]] = {}
    for name, cfg in strings.items():
        string_blocks.setdefault((cfg.strategy, cfg.fill_value, cfg.add_indicator), []).append(name)
    for i, names in enumerate(string_blocks.values()):
        with tf.name_scope(f"nanguard_strings_{i}"):
            outputs.update(
                _string_block(
                    names, [inputs[n] for n in names], strings[names[0]], config.min_frequency
                )
            )
    # The numeric features that share a config form one [batch, k] block: one fill, one scale,
    # one clip and one record node per block, not one sub-graph per feature.
    blocks: dict[tuple, list[str]] = {}
    for name, cfg in numeric.items():
        key = (cfg.strategy, cfg.fill_value, cfg.scale, cfg.clip_quantiles, cfg.add_indicator)
        blocks.setdefault(key, []).append(name)
    prepared, specs = {}, {}
    for i, (key, names) in enumerate(blocks.items()):
        cfg = numeric[names[0]]
        with tf.name_scope(f"nanguard_numeric_{i}"):
            values, finite, missing = _tensors.prepare_numeric_block(
                [inputs[n] for n in names], inf
            )
        needs = scale.merge_needs(
            impute_lib.numeric_needs(cfg.strategy, inf),
            scale.scale_needs(cfg.scale, cfg.clip_quantiles, bounded=True),
        )
        wide = tuple(inputs[n].dtype == tf.float64 for n in names)
        specs[key] = _stats.StatsSpec(
            _tensors.finite_only(values, finite), wide_range=wide, **needs
        )
        prepared[key] = (values, finite, missing)
    # All numeric statistics in one stacked analyzer per kind (not one per feature or block).
    with tf.name_scope("nanguard_stats"):
        all_stats = _stats.compute_groups(specs)
    joint: dict[str, dict[str, tuple[Any, ...]]] = {s: {} for s in JOINT_STRATEGIES}
    joint_stats: dict[str, _stats.NumericStats] = {}
    margin = config.range_margin
    for i, (key, names) in enumerate(blocks.items()):
        cfg, stats = numeric[names[0]], all_stats[key]
        values, finite, missing = prepared[key]
        with tf.name_scope(f"nanguard_numeric_{i}"):
            if cfg.add_indicator:
                indicators = tf.unstack(tf.cast(missing, tf.float32), num=len(names), axis=1)
                named = zip(names, indicators, strict=True)
                outputs.update((n + INDICATOR_SUFFIX, v) for n, v in named)
            if cfg.strategy in joint:  # imputed together with the others of that strategy
                for j, name in enumerate(names):
                    joint[cfg.strategy][name] = (values[:, j], finite[:, j], missing[:, j])
                    joint_stats[name] = stats.column(j)
                continue
            imputed, info = impute_lib.impute_numeric(
                values, finite, missing, stats, cfg.strategy, cfg.fill_value, inf
            )
            outputs.update(_finish_block(names, imputed, stats, cfg, info, margin))
    filled, infos = {}, {}
    for strategy, members in joint.items():  # registered in config.JOINT_STRATEGIES
        if members:
            module, function = JOINT_STRATEGIES[strategy].rsplit(".", 1)
            impute_joint = getattr(importlib.import_module(module), function)
            with tf.name_scope(f"nanguard_{strategy}"):
                found, found_infos = impute_joint(
                    members,
                    {n: joint_stats[n] for n in members},
                    inf=inf,
                    **getattr(config, strategy).to_dict(),
                )
            filled.update(found)
            infos.update(found_infos)
    for name in sorted(filled):
        with tf.name_scope(scope[name]):
            outputs[name] = _finish_numeric(
                name, filled[name], joint_stats[name], numeric[name], infos[name], margin
            )
    return outputs


def _check_indicator_names(inputs: dict[str, Any], config: TransformConfig, label_key: str):
    """Raises InputError when a column is named like another column's indicator (`f_missing`):
    one output would silently replace the other."""
    for name in sorted(inputs):
        indicator = name + INDICATOR_SUFFIX
        if indicator not in inputs or indicator in config.exclude:
            continue
        if name in config.exclude or name == label_key:
            continue
        kind = "string" if inputs[name].dtype == tf.string else "numeric"
        if config.feature(name, kind).add_indicator:
            raise InputError(
                f"transform: column {indicator!r} has the name of the missing-value indicator "
                f"of column {name!r}; rename {indicator!r}, or set "
                f"transform.features.{name}.add_indicator: false."
            )


def _string_block(
    names: list[str], xs: list[Any], cfg: FeatureConfig, min_frequency: int = 1
) -> dict[str, tf.Tensor]:
    """Imputed, vocabulary-encoded string features sharing `cfg` (+ their indicators): one
    most-frequent analyzer and one record node for the block, one vocabulary per feature. A
    value seen in fewer than `min_frequency` training rows maps to the one unknown-value id, as
    a value never seen does."""
    k = len(names)
    imputed, missing, info, values = impute_lib.impute_string_block(
        xs, cfg.strategy, cfg.fill_value
    )
    ids = []
    for j, name in enumerate(names):
        if cfg.strategy == "constant":
            learned = imputed[:, j]  # the constant fill joins the vocabulary in the same pass
        else:
            # A most-frequent fill is itself an analyzer result: a vocabulary over the imputed
            # values would wait for it (a second analysis phase, a second pass over the data).
            # The fill is the most frequent present value, so the present values give it a slot.
            learned = tf.boolean_mask(values[:, j], ~missing[:, j])
        vocabulary = tft.vocabulary(
            learned,
            vocab_filename=tf_name(name),
            frequency_threshold=min_frequency if min_frequency > 1 else None,
        )
        ids.append(tft.apply_vocabulary(imputed[:, j], vocabulary, num_oov_buckets=1))
    info["kind"] = "string"
    info["vocabulary"] = tf.constant([tf_name(n) for n in names])
    info["add_indicator"] = bool(cfg.add_indicator)
    block = record.attach_block_record(tf.stack(ids, axis=1), names, info)
    out = dict(zip(names, tf.unstack(block, num=k, axis=1), strict=True))
    if cfg.add_indicator:
        indicators = tf.unstack(tf.cast(missing, tf.float32), num=k, axis=1)
        out.update((n + INDICATOR_SUFFIX, v) for n, v in zip(names, indicators, strict=True))
    return out


def _finish_numeric(
    name: str,
    imputed: tf.Tensor,
    stats: _stats.NumericStats,
    cfg: FeatureConfig,
    info: dict[str, Any],
    range_margin: float,
) -> tf.Tensor:
    """Scales an imputed float64 feature, clips it to its safe range (the training range plus
    `range_margin` spreads) and casts it to finite float32; record attached."""
    y, scale_info = scale.scale_values(
        imputed, stats, cfg.scale, cfg.clip_quantiles, range_margin, fill=info.get("fill_value")
    )
    info.update(scale_info)
    info["kind"] = "numeric"
    info["add_indicator"] = bool(cfg.add_indicator)
    return record.attach_record(_tensors.to_float32_finite(y), name, info)


def _finish_block(
    names: list[str],
    imputed: tf.Tensor,
    stats: _stats.NumericStats,
    cfg: FeatureConfig,
    info: dict[str, Any],
    range_margin: float,
) -> dict[str, tf.Tensor]:
    """`_finish_numeric` of a `[batch, k]` block of imputed float64 features (statistics `[k]`
    vectors): scaled, clipped to each feature's safe range, finite float32, one output per
    name; one record node for the block."""
    y, scale_info = scale.scale_values(
        imputed, stats, cfg.scale, cfg.clip_quantiles, range_margin, fill=info.get("fill_value")
    )
    info.update(scale_info)
    info["kind"] = "numeric"
    info["add_indicator"] = bool(cfg.add_indicator)
    y = record.attach_block_record(_tensors.to_float32_finite(y), names, info)
    return dict(zip(names, tf.unstack(y, num=len(names), axis=1), strict=True))
