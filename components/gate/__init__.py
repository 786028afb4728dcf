"""nanguard finite-prediction gate: bless a model only if its predictions are finite."""

from nanguard.components.gate.component import FinitePredictionGate
from nanguard.components.gate.core import ModelSignature, check_model, count_non_finite
from nanguard.components.gate.probes import (
    PROBE_FAMILIES,
    FeatureProfile,
    build_probes,
    profiles_from_schema,
    profiles_from_table,
    run_probes,
)
from nanguard.components.gate.spec import FinitePredictionGateSpec

__all__ = [
    "PROBE_FAMILIES",
    "FeatureProfile",
    "FinitePredictionGate",
    "FinitePredictionGateSpec",
    "ModelSignature",
    "build_probes",
    "check_model",
    "count_non_finite",
    "profiles_from_schema",
    "profiles_from_table",
    "run_probes",
]
