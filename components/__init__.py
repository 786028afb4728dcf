"""nanguard's TFX components: each guard in a folder of its own.

    DataGuard              data_guard/  exact NaN/Inf/missing profile, TFDV anomalies, a verdict
    Transform              transform/   stock Transform + NaN-safe preprocessing_fn and record
    run_fn (guarded)       trainer/     `nanguard.components.trainer.run_fn.run_fn`
    FinitePredictionGate   gate/        ModelBlessing only for a model whose predictions are finite

Names load lazily, so `import nanguard.components` stays cheap until a component is used.
"""

from nanguard.components import _lazy

_EXPORTS = {
    "DataGuard": "nanguard.components.data_guard",
    "harden_schema": "nanguard.components.schema",
    "HardenSchema": "nanguard.components.data_guard.harden_component",
    "harden_schema_file": "nanguard.components.schema",
    "Transform": "nanguard.components.transform.component",
    "impute": "nanguard.components.transform",
    "scale": "nanguard.components.transform",
    "preprocessing_fn": "nanguard.components.transform",
    "stats_options_updater_fn": "nanguard.components.transform",
    "TrainerConfig": "nanguard.components.trainer.config",
    "guard": "nanguard.components.trainer.any_model",
    "DataGuardConfig": "nanguard.components.data_guard.config",
    "TransformConfig": "nanguard.components.transform.config",
    "GateConfig": "nanguard.components.gate.config",
    "InputError": "nanguard.components.errors",
    "FinitePredictionGate": "nanguard.components.gate",
    "check_model": "nanguard.components.gate",
    "GuardBlockedError": "nanguard.components.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
