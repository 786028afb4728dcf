"""The whole transform learns in one analysis phase: one pass over the data, whatever the
strategies (knn and em aside). A second phase, e.g. a vocabulary over values filled by an
analyzer, doubles the analysis passes and adds a saved-model trace (issue #15)."""

from __future__ import annotations

import re

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform import impl_helper, nodes
from tensorflow_transform.beam import analysis_graph_builder

from nanguard.components.transform import preprocessing

SPEC = {
    "s": tf.io.VarLenFeature(tf.string),
    "x": tf.io.VarLenFeature(tf.float32),
    "n": tf.io.VarLenFeature(tf.int64),
    "y": tf.io.VarLenFeature(tf.string),
}


def analysis_phases(preprocessing_fn) -> set[int]:
    """The phases tf.Transform's analysis plan uses for `preprocessing_fn` over SPEC."""
    with tf.compat.v1.Graph().as_default() as graph:
        inputs = impl_helper.batched_placeholders_from_specs(SPEC)
        outputs = preprocessing_fn(inputs)
        future, _, _ = analysis_graph_builder.build(graph, inputs, outputs)
        plan = nodes.get_dot_graph([future]).to_string()
    return {int(p) for p in re.findall(r"Phase(\d+)", plan)}


def test_a_preprocessing_fn_with_an_analyzer_on_an_analyzer_result_has_two_phases():
    def two(inputs):  # the check's own control: a mean fed into a z-score
        x = tf.sparse.to_dense(inputs["x"])
        return {"z": tft.scale_to_z_score(x - tft.mean(x))}

    assert analysis_phases(two) == {0, 1}


@pytest.mark.parametrize(
    "string, numeric",
    [
        ("most_frequent", "auto"),
        ("constant", "mean"),
        ("most_frequent", "median"),
        ("most_frequent", "most_frequent"),
        ("constant", "constant"),
    ],
)
def test_every_simple_strategy_learns_in_one_phase(string, numeric):
    config = {
        "label_key": "y",
        "defaults": {"string": {"strategy": string}, "numeric": {"strategy": numeric}},
    }
    assert analysis_phases(lambda i: preprocessing.preprocessing_fn(i, config)) == {0}
