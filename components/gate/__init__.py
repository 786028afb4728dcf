"""nanguard finite-prediction gate: bless a model only if its predictions are finite."""

from nanguard.components import _lazy

_EXPORTS = {
    "CountNonFinitePredictions": "nanguard.components.gate.beam_counts",
    "FeatureProfile": "nanguard.components.profiles",
    "FinitePredictionGate": "nanguard.components.gate.component",
    "FinitePredictionGateSpec": "nanguard.components.gate.spec",
    "GateConfig": "nanguard.components.gate.config",
    "ModelSignature": "nanguard.components.gate.signature",
    "PROBE_FAMILIES": "nanguard.components.probes",
    "build_probes": "nanguard.components.probes",
    "check_model": "nanguard.components.gate.core",
    "count_non_finite": "nanguard.components.gate.counts",
    "count_predictions": "nanguard.components.gate.beam_counts",
    "profiles_from_schema": "nanguard.components.profiles",
    "profiles_from_table": "nanguard.components.profiles",
    "run_probes": "nanguard.components.gate.probe_runs",
    "summarize": "nanguard.components.gate.summary",
    "summary_line": "nanguard.components.gate.summary",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
