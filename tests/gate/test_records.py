"""records.py: CSV rows -> tf.Examples (missing vs NaN), and tf.Examples -> JSON-able dicts."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import tensorflow as tf

from nanguard.components.gate import records
from nanguard.components.inputs import read_csv


def test_table_to_examples_missing_vs_nan(tmp_path):
    x_cells = ["2.5", "0.5", "nan", "NA", "", "1", "30", "inf", "-inf", "Infinity", "7", "None"]
    lines = ["x,n,color"] + [
        f"{xc},{i % 7},{['red', 'blue', 'null'][i % 3]}" for i, xc in enumerate(x_cells)
    ]
    (tmp_path / "a.csv").write_text("\n".join(lines[:7]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([lines[0], *lines[7:]]) + "\n")
    table = read_csv(str(tmp_path), strings=False)
    assert table.num_rows == len(x_cells)
    examples = [tf.train.Example.FromString(r) for r in records.table_to_examples(table)]
    xs = [list(e.features.feature["x"].float_list.value) for e in examples]
    assert xs[0] == [2.5] and np.isnan(xs[2][0])
    assert xs[3] == [] and xs[4] == [] and xs[11] == []  # NA, empty, None -> no value
    assert xs[7] == [np.inf] and xs[8] == [-np.inf] and xs[9] == [np.inf]
    assert list(examples[2].features.feature["color"].bytes_list.value) == []  # 'null'
    assert [e.features.feature["n"].int64_list.value[0] for e in examples] == [
        i % 7 for i in range(len(x_cells))
    ]


def test_all_null_column_is_left_out():
    table = pa.table({"a": pa.array([None, None]), "b": pa.array([1.0, None])})
    examples = [tf.train.Example.FromString(r) for r in records.table_to_examples(table)]
    assert [sorted(e.features.feature) for e in examples] == [["b"], ["b"]]
    assert list(examples[1].features.feature["b"].float_list.value) == []


def test_example_to_dict_spells_non_finite_as_vocab():
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.extend([1.5, np.nan, np.inf, -np.inf])
    example.features.feature["c"].bytes_list.value.append(b"red")
    example.features.feature["e"].float_list.value.extend([])
    out = records.example_to_dict(example.SerializeToString())
    assert out == {"c": ["red"], "e": [], "x": [1.5, "NaN", "Infinity", "-Infinity"]}
    assert json.loads(json.dumps(out, allow_nan=False)) == out


def test_slices_of_the_examples_batch_encode_as_the_whole_table():
    # Column b is all-null in the first two rows only: a slice must still send it (no value),
    # as the whole table does, so that every batch encodes its rows the same way.
    table = pa.table(
        {"a": pa.array([1.0, np.nan, None, 4.0, np.inf]), "b": pa.array([None, None, 3, None, 5])}
    )
    whole = records.table_to_examples(table)
    batch = records.examples_batch(table)
    sliced = [r for start in (0, 2, 4) for r in records.encode_examples(batch.slice(start, 2), 2)]
    # The same features (the encoder's order of map entries is not fixed, so compare decoded).
    decode = records.example_to_dict
    assert [decode(r) for r in sliced] == [decode(r) for r in whole]
    assert [decode(r) for r in whole] == [
        {"a": [1.0], "b": []}, {"a": ["NaN"], "b": []}, {"a": [], "b": [3]},
        {"a": [4.0], "b": []}, {"a": ["Infinity"], "b": [5]},
    ]  # fmt: skip
    first = tf.train.Example.FromString(sliced[0])
    assert sorted(first.features.feature) == ["a", "b"]
    assert list(first.features.feature["b"].int64_list.value) == []
    assert records.examples_batch(pa.table({"a": pa.array([None])})) is None
    assert records.encode_examples(None, 2) == [b"", b""]
