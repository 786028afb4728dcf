"""nanguard finite-prediction gate: bless a model only if its predictions are finite."""

from nanguard.components import _lazy

_EXPORTS = {
    "FeatureProfile": "nanguard.components.gate.probes",
    "FinitePredictionGate": "nanguard.components.gate.component",
    "GateConfig": "nanguard.components.gate.config",
    "FinitePredictionGateSpec": "nanguard.components.gate.spec",
    "ModelSignature": "nanguard.components.gate.core",
    "PROBE_FAMILIES": "nanguard.components.gate.probes",
    "build_probes": "nanguard.components.gate.probes",
    "check_model": "nanguard.components.gate.core",
    "count_non_finite": "nanguard.components.gate.core",
    "profiles_from_schema": "nanguard.components.gate.probes",
    "profiles_from_table": "nanguard.components.gate.probes",
    "run_probes": "nanguard.components.gate.probes",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
