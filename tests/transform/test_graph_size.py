"""The transform graph grows by a few ops per numeric feature, not by a sub-graph per feature.

tf.Transform traces the `preprocessing_fn` about ten times a run and runs its graph in every
bundle, so the graph's size is paid over and over (#29). The features that share a config are
one `[batch, k]` block; what each more feature adds is its densify, its slot in the stacks and
its outputs. The per-feature graph this replaced added 237 ops per numeric feature and 217 per
string feature (TFX 1.16's TFT); the blocks add 35 and 126.
"""

from __future__ import annotations

import tempfile

import tensorflow as tf
from tensorflow_transform import impl_helper

from nanguard.components.transform import preprocessing


def _ops(numeric: int, strings: int = 0) -> int:
    spec = {f"x{j}": tf.io.VarLenFeature(tf.float32) for j in range(numeric)}
    spec.update({f"s{j}": tf.io.VarLenFeature(tf.string) for j in range(strings)})
    spec["y"] = tf.io.VarLenFeature(tf.string)
    traced = impl_helper.trace_preprocessing_function(
        lambda inputs: preprocessing.preprocessing_fn(inputs, {"label_key": "y"}),
        impl_helper.get_type_specs_from_feature_specs(spec),
        use_tf_compat_v1=False,
        base_temp_dir=tempfile.mkdtemp(),
    )
    graph = traced[0] if isinstance(traced, tuple) else traced
    return len(getattr(graph, "graph", graph).get_operations())


def test_a_numeric_feature_sharing_the_config_adds_few_ops():
    per_feature = (_ops(16) - _ops(4)) / 12
    assert per_feature < 60, per_feature


def test_a_string_feature_sharing_the_config_adds_about_its_vocabulary():
    per_feature = (_ops(1, strings=5) - _ops(1, strings=1)) / 4
    # Each string feature keeps its own tft.vocabulary (a file each) and apply_vocabulary.
    assert per_feature < 160, per_feature
