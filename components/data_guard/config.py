"""The data guard's config section (`data_guard:` in the YAML): what the guard lets through."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nanguard.components import vocab
from nanguard.components.config import MappingOf, Number, OneOf, Section, setting

FRACTION = Number(0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class DataGuardConfig(Section):
    """What the data guard lets through, and what it does about the rest.

    A row is unusable for a feature when the value is missing or NaN (NaN counts as missing: it
    will be imputed), or +/-Inf under `inf: treat_as_missing`.
    """

    name: ClassVar[str] = "data_guard"

    mode: str = setting(
        "fail", OneOf(vocab.GUARD_MODES), "fail: stop the run on a violation (exit 3); warn: go on"
    )
    max_missing_fraction: float = setting(
        0.3, FRACTION, "largest unusable fraction (missing + NaN [+ Inf]) per feature"
    )
    max_missing_fraction_by_feature: dict = setting(
        {}, MappingOf(FRACTION), "per-feature overrides, e.g. {sex: 0.1}"
    )
    inf: str = setting(
        "fail",
        OneOf(vocab.INF_POLICIES),
        "fail: any Inf is a violation; treat_as_missing: imputed; clip: to the training range",
    )
    label: str = setting(
        "block",
        OneOf(vocab.LABEL_POLICIES),
        "block: a missing/NaN/Inf label stops the run; drop: such rows are dropped",
    )

    def missing_limit(self, feature: str) -> float:
        """The unusable fraction allowed for `feature`."""
        return self.max_missing_fraction_by_feature.get(feature, self.max_missing_fraction)


# The name before the one config machinery; kept so existing imports keep working.
DataGuardPolicy = DataGuardConfig
