"""GateConfig: the gate's settings, defaults stated once and validated once (from_dict)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nanguard.components.errors import InputError
from nanguard.components.gate.config import GateConfig
from nanguard.components.probes import PROBE_FAMILIES


def test_defaults_and_component_kwargs():
    config = GateConfig()
    # component_kwargs() left GateConfig when the gate was wired with its section (3fd5c3a);
    # to_dict() is the same values, JSON-shaped.
    assert config.to_dict() == {
        "signature_name": "serving_default",
        "splits": ["eval"],
        "batch_size": 4096,
        "probe_families": list(PROBE_FAMILIES),
        "max_offending": 10,
        "block_on_probe_error": True,
        "raise_on_block": False,
    }
    assert PROBE_FAMILIES == (
        "missing", "nan", "pos_inf", "neg_inf", "out_of_range", "out_of_range_neg",
        "pos_extreme", "neg_extreme", "subnormal", "neg_zero", "as_bytes", "all_missing",
    )  # fmt: skip


@pytest.mark.parametrize(
    "values, needle",
    [
        ({"probe_families": ["bogus"]}, r"gate\.probe_families\[0\]: 'bogus' is not allowed"),
        ({"probe_families": "nan"}, r"gate\.probe_families: 'nan' is not allowed; use a list"),
        ({"batch_size": 0}, r"gate\.batch_size: 0 is not allowed; use an integer >= 1"),
        ({"batch_size": 2.5}, r"gate\.batch_size: 2\.5 is not allowed"),
        ({"splits": []}, r"gate\.splits: \[\] is not allowed; use a non-empty list"),
        ({"max_offending": -1}, r"gate\.max_offending: -1 is not allowed"),
        ({"raise_on_block": 1}, r"gate\.raise_on_block: 1 is not allowed; use true or false"),
        ({"label_key": "y"}, r"gate: unknown key\(s\) \['label_key'\]"),
    ],
)
def test_from_dict_names_the_key_and_the_allowed_values(values, needle):
    with pytest.raises(InputError, match=needle):
        GateConfig.from_dict(values)


def test_from_dict_normalises_lists_to_tuples():
    config = GateConfig.from_dict({"splits": ["eval", "test"], "probe_families": []})
    assert config.splits == ("eval", "test")
    assert config.probe_families == ()


def test_config_module_imports_nothing_heavy():
    code = (
        "import sys; import nanguard.components.gate.config; "
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tensorflow_data_validation', "
        "'tensorflow_model_analysis', 'tfx') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
