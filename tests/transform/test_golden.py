"""The transform's outputs and record equal those of the per-feature graph it replaced.

`golden/` was written by the per-feature `preprocessing_fn` (one sub-graph per feature, before
the numeric features were grouped into `[batch, k]` tensors, #29) on `_data`'s rows. Grouping
changes how the graph is built, not what it computes: every output must be bit for bit the same,
indicators included, and every recorded parameter the same number or text.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from nanguard.components import vocab
from tests.transform import _data

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def analyzed():
    return _data.analyzed()


def test_every_output_equals_the_per_feature_graph(analyzed):
    _, res, _ = analyzed
    golden = np.load(os.path.join(GOLDEN, "outputs.npz"))
    assert sorted(res) == sorted(golden.files)
    for name in golden.files:
        got = res[name].astype(bytes) if res[name].dtype == object else res[name]  # text
        assert got.dtype == golden[name].dtype, name
        np.testing.assert_array_equal(got, golden[name], err_msg=name)


def _same(a, b, where):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_every_recorded_parameter_equals_the_per_feature_graph(analyzed):
    _, _, graph = analyzed
    with open(os.path.join(GOLDEN, "record.json")) as f:
        golden = json.load(f)
    # Read back as `read_transform_record` reads: non-finite spellings become floats.
    got = json.loads(vocab.dumps(_data.recs(graph)))
    _same(got, golden, "record")
