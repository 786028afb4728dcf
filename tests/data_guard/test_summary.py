"""summary.py: the run summary's facts and line, read back from the guard's files."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from nanguard.components.data_guard import summary
from tests.data_guard.helpers import (
    CRAFTED,
    PENGUINS,
    artifacts,
    crafted_schema,
    csv_rows,
    reference_counts,
)
from tests.data_guard.helpers import executor as guard_executor


def test_summary_of_a_passing_and_a_failing_guard(tmp_path):
    from tensorflow_metadata.proto.v0 import schema_pb2

    penguins = csv_rows(PENGUINS)
    s = schema_pb2.Schema()
    for name, value in penguins[0].items():
        s.feature.add(
            name=name, type=schema_pb2.BYTES if isinstance(value, str) else schema_pb2.FLOAT
        )
    inputs, outputs = artifacts(tmp_path / "good", penguins[:300], penguins[300:], s)
    guard_executor(tmp_path).Do(inputs, outputs, {"label_key": "species"})
    facts = summary.summarize(outputs["anomalies"][0].uri)
    df = pd.read_csv(PENGUINS)
    assert facts["rows"] == 344 and facts["splits"] == {"train": 300, "eval": 44}
    assert facts["missing"] == int(df.isna().sum().sum()) == 19
    assert (facts["nan"], facts["pos_inf"], facts["neg_inf"], facts["huge"]) == (0, 0, 0, 0)
    assert facts["blessed"] and facts["violations"] == 0 and facts["messages"] == []
    assert (
        summary.summary_line(facts) == "344 rows: 19 missing, 0 NaN, 0 +Inf, 0 -Inf, 0 huge; pass"
    )
    json.dumps(facts, allow_nan=False)  # JSON-able, strictly

    rows = csv_rows(CRAFTED)
    inputs, outputs = artifacts(tmp_path / "bad", rows, [], crafted_schema())
    guard_executor(tmp_path).Do(
        inputs, outputs, {"label_key": "label", "config": json.dumps({"mode": "warn"})}
    )
    facts = summary.summarize(outputs["anomalies"][0].uri)
    ref = reference_counts(CRAFTED)
    totals = [sum(r.get(key, 0) for r in ref.values()) for key in ("nan", "pos_inf", "neg_inf")]
    assert [facts["nan"], facts["pos_inf"], facts["neg_inf"]] == totals == [3, 3, 2]
    assert facts["rows"] == 16 and facts["huge"] == 2
    # Blocking: the empty eval split, Inf in x and y, z and ghost with no value; a warning: x's
    # 37.5% gaps; the 2 rows without a label are left out, counted.
    assert facts["violations"] == 5 and facts["warnings"] == 1 and not facts["blessed"]
    got = sorted((r["kind"], r["feature"], r["split"]) for r in facts["records"])
    assert got == [
        ("all_missing", "ghost", "train"),
        ("all_missing", "z", "train"),
        ("empty", "", "eval"),
        ("inf", "x", "train"),
        ("inf", "y", "train"),
        ("missing", "x", "train"),
    ]
    assert len(facts["messages"]) == 6 and all(";" in m for m in facts["messages"])
    assert facts["label_missing"] == 2 and facts["label_missing_by_split"] == {
        "train": 2,
        "eval": 0,
    }
    assert summary.summary_line(facts) == (
        "16 rows (2 without a label, left out): 40 missing, 3 NaN, 3 +Inf, 2 -Inf, 2 huge; "
        "5 violation(s), 1 warning(s)"
    )


def test_summary_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from nanguard.components.data_guard import summary\n"
        "print(sorted(m for m in ('tensorflow', 'apache_beam', 'tfx') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
