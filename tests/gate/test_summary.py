"""summary.py: the gate's facts and console line, read back from its blessing folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tfx.types import standard_artifacts

from nanguard.components.errors import InputError
from nanguard.components.gate import executor, summary


def _blessing(tmp_path, **report):
    base = {"examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0,
            "outputs": {"p": {"total": 240, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
            "probes_run": 10, "probes_failed": [], "probe_failures": [], "reasons": [],
            "blessed": True, "offending_examples": []}  # fmt: skip
    model = standard_artifacts.Model()
    model.uri, model.id = str(tmp_path / "model"), 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    executor.write_blessing(blessing, model, {**base, **report})
    return blessing.uri


def test_blessed(tmp_path):
    facts = summary.summarize(_blessing(tmp_path))
    assert facts == {
        "examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0, "probes_run": 10,
        "probes_failed": [], "blessed": True, "reasons": [],
        "outputs": {"p": {"total": 240, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
        "uri": str(tmp_path / "blessing"),
    }  # fmt: skip
    assert summary.summary_line(facts) == "80 examples, 0 non-finite, 0 probe(s) failed: blessed"


def test_not_blessed(tmp_path):
    uri = _blessing(
        tmp_path, non_finite=3, nan=3, blessed=False, probes_failed=["nan:x", "all_missing"],
        reasons=["3 of 80 examples got non-finite predictions", "2 probe(s) failed: nan:x"],
    )  # fmt: skip
    line = summary.summary_line(summary.summarize(uri))
    assert line == (
        "80 examples, 3 non-finite, 2 probe(s) failed: NOT blessed (3 of 80 examples got "
        "non-finite predictions; 2 probe(s) failed: nan:x)"
    )


def test_missing_report_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"gate_report\.json: no readable gate report"):
        summary.summarize(str(tmp_path))


def test_summary_module_imports_nothing_heavy():
    code = (
        "import sys; import nanguard.components.gate.summary; "
        "print([m for m in ('tensorflow', 'apache_beam', 'tensorflow_data_validation', "
        "'tensorflow_model_analysis') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
