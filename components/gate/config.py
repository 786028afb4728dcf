"""The finite-prediction gate's config section (`gate:` in the YAML)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nanguard.components.config import Flag, ListOf, Number, OneOf, Section, Text, setting
from nanguard.components.probes import PROBE_FAMILIES


@dataclasses.dataclass(frozen=True)
class GateConfig(Section):
    """How the gate runs the model and which hostile probes it sends."""

    name: ClassVar[str] = "gate"

    signature_name: str = setting(
        "serving_default", Text(), "signature that takes serialized tf.Examples"
    )
    splits: tuple = setting(
        ("eval",), ListOf(Text(), min_len=1), "splits of the examples to predict on"
    )
    batch_size: int = setting(4096, Number(1, integer=True), "examples per signature call")
    probe_families: tuple = setting(
        PROBE_FAMILIES, ListOf(OneOf(PROBE_FAMILIES)), "hostile probes to send ([] for none)"
    )
    max_offending: int = setting(
        10, Number(0, integer=True), "offending examples kept in the report, per split"
    )
    block_on_probe_error: bool = setting(
        True, Flag(), "a probe the signature raises on blocks the model too"
    )
    raise_on_block: bool = setting(
        False, Flag(), "fail the run (exit 3) instead of only not blessing"
    )
