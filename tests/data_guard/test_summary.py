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
    assert facts["violations"] == 7 and len(facts["messages"]) == 7 and not facts["blessed"]
    assert summary.summary_line(facts).endswith("; 7 violation(s)")


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
