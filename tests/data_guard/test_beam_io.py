"""beam_io.py: the batched TFRecord reader and the Beam profile steps."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
from tfx_bsl.public import tfxio as tfxio_lib

from nanguard.components.data_guard import beam_io, counts, outputs
from tests.data_guard.helpers import example as _example
from tests.data_guard.helpers import write_records as _write_records


def test_batched_reader_matches_tfxio_and_numpy_on_multi_file_input(tmp_path):
    """ReadTFExampleFiles (small batches) == TFXIO BeamSource == numpy.

    In-process runner to stay fast: the multi-process DirectRunner reads through
    ReadTFExampleFiles in tests/data_guard/test_executor.py.
    """
    rng = np.random.default_rng(7)
    n = 1100
    x = rng.normal(5.0, 3.0, n).astype(np.float32)
    u = rng.random(n)
    x[u < 0.05] = np.nan
    x[(u >= 0.05) & (u < 0.08)] = np.inf
    x[(u >= 0.08) & (u < 0.1)] = -np.inf
    x[(u >= 0.1) & (u < 0.11)] = 4e19
    x_present = rng.random(n) > 0.15
    k = rng.integers(-50, 50, n)
    k_present = rng.random(n) > 0.3
    s = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    s_present = rng.random(n) > 0.2
    s_present[600:] = False  # the second file never holds 's' (null-typed column there)
    records = [
        _example(
            float(x[i]) if x_present[i] else None,
            int(k[i]) if k_present[i] else None,
            str(s[i]) if s_present[i] else None,
        )
        for i in range(n)
    ]
    folder = tmp_path / "Split-train"
    folder.mkdir()
    _write_records(str(folder / "data-00000-of-00003.gz"), records[:600], gzip=True)
    _write_records(str(folder / "data-00001-of-00003"), records[600:], gzip=False)
    _write_records(str(folder / "data-00002-of-00003.gz"), [], gzip=True)  # empty shard
    pattern = str(folder / "*")

    sources = {
        "batched": beam_io.ReadTFExampleFiles(pattern, read_batch_size=64),
        "tfxio": tfxio_lib.TFExampleRecord(file_pattern=pattern).BeamSource(),
    }
    with beam.Pipeline() as pipeline:
        paths = beam_io.add_profile_steps(pipeline, sources, str(tmp_path / "out"))
    batched, stock = (outputs.read_json(paths[name]) for name in ("batched", "tfxio"))

    assert batched["rows"] == stock["rows"] == n
    assert batched["features"].keys() == stock["features"].keys() == {"x", "k", "s"}
    exact = ("type", *counts.COUNT_KEYS, "min", "max", "top_value", "top_count")
    for name, feat in batched["features"].items():
        for key in exact:
            assert feat.get(key) == stock["features"][name].get(key), (name, key)
        for key in ("mean", "std"):
            if feat.get(key) is not None:
                np.testing.assert_allclose(feat[key], stock["features"][name][key], rtol=1e-9)

    # Independent numpy reference.
    fx = batched["features"]["x"]
    v = x[x_present]
    finite = v[np.isfinite(v)].astype(np.float64)
    assert (fx["type"], fx["present"], fx["missing"]) == (
        "FLOAT",
        x_present.sum(),
        n - x_present.sum(),
    )
    assert fx["nan"] == np.isnan(v).sum() and fx["pos_inf"] == np.isposinf(v).sum()
    assert fx["neg_inf"] == np.isneginf(v).sum()
    assert fx["huge"] == (np.abs(finite) > counts.HUGE_THRESHOLD).sum() > 0
    np.testing.assert_allclose(fx["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(fx["std"], finite.std(), rtol=1e-9)
    assert (fx["min"], fx["max"]) == (finite.min(), finite.max())
    rank = np.searchsorted(np.sort(finite), fx["median"])
    assert abs(rank - finite.size / 2) <= counts.QUANTILES_EPSILON * finite.size + 1
    fk = batched["features"]["k"]
    assert (fk["type"], fk["present"], fk["finite"]) == ("INT", k_present.sum(), k_present.sum())
    np.testing.assert_allclose(fk["mean"], k[k_present].mean(), rtol=1e-9)
    assert (fk["min"], fk["max"]) == (k[k_present].min(), k[k_present].max())
    fs = batched["features"]["s"]
    top = pd.Series(s[s_present]).value_counts()
    assert (fs["type"], fs["present"], fs["missing"]) == (
        "STRING",
        s_present.sum(),
        n - s_present.sum(),
    )
    assert (fs["top_value"], fs["top_count"]) == (top.index[0], top.iloc[0])


def test_read_tfexample_file_batches_gzip_without_suffix_and_names_bad_files(tmp_path):
    records = [_example(float(i), i, None) for i in range(10)]
    path = str(tmp_path / "shard")  # gzip without a .gz suffix: found by its magic bytes
    _write_records(path, records, gzip=True)
    assert beam_io.tfrecord_compression(path) == "GZIP"
    batches = list(beam_io.read_tfexample_file(path, read_batch_size=4))
    assert [b.num_rows for b in batches] == [4, 4, 2]
    got = np.concatenate([b.column("x").flatten().to_numpy() for b in batches])
    np.testing.assert_array_equal(got, np.arange(10, dtype=np.float32))
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not a tfrecord")
    with pytest.raises(ValueError, match="bad.gz"):
        list(beam_io.read_tfexample_file(str(bad)))
    with pytest.raises(ValueError, match="nothing-here"):
        beam_io.list_tfrecord_files(str(tmp_path / "nothing-here" / "*"))
