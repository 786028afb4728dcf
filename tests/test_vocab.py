"""The shared vocabulary: one strict-JSON spelling of NaN and Inf, read back by json.loads."""

import json
import math

import numpy as np

from nanguard.components import vocab


def test_non_finite_floats_are_strict_json_strings_and_read_back():
    value = {"a": [1.5, math.nan, math.inf, -math.inf], "b": np.float32("nan"), 3: b"x"}
    text = vocab.dumps(value, sort_keys=True)
    # Strict JSON: no bare NaN / Infinity tokens (json.loads would accept them by default).
    loaded = json.loads(text, parse_constant=lambda token: (_ for _ in ()).throw(ValueError(token)))
    assert loaded == {"a": [1.5, "NaN", "Infinity", "-Infinity"], "b": "NaN", "3": "x"}
    back = [vocab.as_float(v) for v in loaded["a"]]
    assert back[0] == 1.5 and math.isnan(back[1]) and back[2:] == [math.inf, -math.inf]


def test_numpy_arrays_and_scalars_become_lists_and_numbers():
    assert vocab.jsonable(np.array([[1, 2], [3, 4]], dtype=np.int64)) == [[1, 2], [3, 4]]
    assert vocab.jsonable(np.array([np.inf], dtype=np.float32)) == ["Infinity"]
    assert vocab.jsonable((np.int32(7), "s")) == [7, "s"]


def test_exit_codes_are_the_documented_ones():
    assert (vocab.EXIT_OK, vocab.EXIT_ERROR, vocab.EXIT_USAGE, vocab.EXIT_BLOCKED) == (0, 1, 2, 3)
    assert vocab.NO_LABEL == ""
