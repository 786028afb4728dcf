"""The transform's config section (`transform:` in the YAML): imputation and scaling choices."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from nanguard.components import vocab
from nanguard.components.config import (
    DOTTED_PATH,
    Check,
    FunctionSection,
    ListOf,
    MappingOf,
    Nested,
    Number,
    OneOf,
    Section,
    Text,
    setting,
)
from nanguard.components.errors import InputError

# Strategies that impute all their features together, registered here: name -> the dotted path
# of `fn(prepared, stats, *, inf, **section)` (see `knn.knn_impute_prepared`), where `section` is
# the TransformConfig key of the same name. A new joint strategy is its module plus one entry
# here and its section below; `preprocessing_fn` names none of them.
JOINT_STRATEGIES = {
    "knn": "nanguard.components.transform.knn.knn_impute_prepared",
    "em": "nanguard.components.transform.em.em_impute_prepared",
}
STRATEGIES = ("mean", "median", "most_frequent", "constant", "auto", *JOINT_STRATEGIES)
STRING_STRATEGIES = ("most_frequent", "constant", "auto")  # `auto` is most_frequent for strings
SCALERS = ("z_score", "min_max", "robust", "none")
PROBABILITY = Number(0.0, 1.0)


class _Scalar(Check):
    """A fill value: a finite number or a string (null: the strategy's own default)."""

    def __call__(self, value, where):
        if value is None or isinstance(value, str):
            return value
        try:
            return Number()(value, where)
        except InputError:
            raise self.fail(value, where) from None

    def describe(self):
        return "a finite number or a string"


@dataclasses.dataclass(frozen=True)
class FeatureConfig(Section):
    """Imputation and scaling of one feature; a null key falls back to the kind's default."""

    name: ClassVar[str] = "transform.features.<name>"

    strategy: str | None = setting(None, OneOf((*STRATEGIES, None)), "imputation strategy")
    fill_value: Any = setting(None, _Scalar(), "the constant for strategy: constant")
    add_indicator: bool | None = setting(
        None, OneOf((True, False, None)), "add a <name>_missing 0/1 feature"
    )
    scale: str | None = setting(None, OneOf((*SCALERS, None)), "scaling of numeric features")
    clip_quantiles: tuple | None = setting(
        None,
        ListOf(PROBABILITY, length=2, none=True),
        "clip to these training quantiles before scaling, e.g. [0.01, 0.99]",
    )

    def check_together(self, where: str) -> None:
        if self.clip_quantiles is not None and not self.clip_quantiles[0] < self.clip_quantiles[1]:
            raise InputError(
                f"{where}.clip_quantiles: {list(self.clip_quantiles)} is not allowed; use "
                "[low, high] with 0 <= low < high <= 1"
            )

    def over(self, base: FeatureConfig) -> FeatureConfig:
        """This config's set keys over `base`'s."""
        mine = {k: v for k, v in self.to_dict().items() if v is not None}
        return FeatureConfig.from_dict({**base.to_dict(), **mine})


NUMERIC_DEFAULT = FeatureConfig(strategy="auto", scale="z_score", add_indicator=True)
STRING_DEFAULT = FeatureConfig(strategy="most_frequent", add_indicator=False)


class _KindDefault(Nested):
    """`defaults.numeric` / `defaults.string`: the user's keys merged over nanguard's."""

    def __init__(self, base: FeatureConfig):
        super().__init__(FeatureConfig)
        self.base = base

    def __call__(self, value, where):
        return super().__call__(value, where).over(self.base)


@dataclasses.dataclass(frozen=True)
class KindDefaults(Section):
    name: ClassVar[str] = "transform.defaults"

    numeric: FeatureConfig = setting(
        NUMERIC_DEFAULT, _KindDefault(NUMERIC_DEFAULT), "every numeric feature"
    )
    string: FeatureConfig = setting(
        STRING_DEFAULT, _KindDefault(STRING_DEFAULT), "every string feature"
    )

    def check_together(self, where: str) -> None:
        if self.string.strategy not in STRING_STRATEGIES:
            raise InputError(
                f"{where}.string.strategy: {self.string.strategy!r} is not allowed for string "
                f"features; use one of {list(STRING_STRATEGIES)}"
            )


@dataclasses.dataclass(frozen=True)
class KnnConfig(Section):
    name: ClassVar[str] = "transform.knn"

    n_neighbors: int = setting(5, Number(1, integer=True), "neighbours averaged per gap")
    sample_size: int = setting(1000, Number(1, integer=True), "training rows kept as neighbours")
    seed: int = setting(0, Number(integer=True), "seed of that sample")


@dataclasses.dataclass(frozen=True)
class EmConfig(Section):
    """Multivariate Gaussian EM over the features with `strategy: em` (see `em.py`)."""

    name: ClassVar[str] = "transform.em"

    iterations: int = setting(
        10, Number(1, 1000, integer=True), "EM iterations, each one full analysis pass"
    )
    tolerance: float = setting(
        1e-4,
        Number(0.0),
        "stop when no mean or covariance entry (in training standard deviations) moves more",
    )
    ridge: float = setting(
        1e-6,
        Number(0.0, 1.0, open_low=True),
        "added to the diagonal of the standardised covariance before every solve",
    )


@dataclasses.dataclass(frozen=True)
class TransformConfig(FunctionSection):
    """Imputation and scaling of every feature; outputs are always finite.

    `preprocessing_fn` names a team's own function instead (a dotted path): then every other key
    of the section is that function's `custom_config`, passed on unchecked.
    """

    name: ClassVar[str] = "transform"
    function_key: ClassVar[str] = "preprocessing_fn"

    inf: str = setting(
        "treat_as_missing",
        OneOf(vocab.TRANSFORM_INF_POLICIES),
        "treat_as_missing: imputed; clip: to the finite training range",
    )
    defaults: KindDefaults = setting(KindDefaults(), Nested(KindDefaults), "per kind of feature")
    features: dict = setting({}, MappingOf(Nested(FeatureConfig)), "per-feature overrides")
    exclude: tuple = setting((), ListOf(Text()), "raw features not passed to the model")
    min_frequency: int = setting(
        1,
        Number(1, integer=True),
        "a text category seen in fewer training rows shares the unknown-category slot "
        "(scikit-learn's OneHotEncoder min_frequency; 1: every category has its own)",
    )
    knn: KnnConfig = setting(KnnConfig(), Nested(KnnConfig), "for features with strategy: knn")
    em: EmConfig = setting(EmConfig(), Nested(EmConfig), "for features with strategy: em")
    range_margin: float = setting(
        3.0,
        Number(0.0, 1e6),
        "numeric outputs are clipped to the training range widened on each side by this many "
        "spreads of the scaling (std for z_score and none, max - min for min_max, IQR for "
        "robust): no finite input can push an output further",
    )
    preprocessing_fn: str | None = setting(
        None,
        DOTTED_PATH,
        "a team's own preprocessing_fn instead of nanguard's",
    )

    def feature(self, name: str, kind: str) -> FeatureConfig:
        """The resolved config of feature `name` of `kind` ('numeric' or 'string')."""
        base = getattr(self.defaults, kind)
        override = self.features.get(name)
        return override.over(base) if override else base
