"""nanguard guarded training: a `run_fn` for the stock TFX Trainer with a non-finite guard.

Trainer(run_fn="nanguard.components.trainer.run_fn.run_fn", custom_config={...}). `run_fn` is
not re-exported here: the name stays the module `nanguard.components.trainer.run_fn`.
"""

from nanguard.components import _lazy

_EXPORTS = {
    "GuardCallback": "nanguard.components.trainer.guard",
    "GuardedModel": "nanguard.components.trainer.guard",
    "HEALTH_REPORT_FILE": "nanguard.components.trainer.guard",
    "TrainerConfig": "nanguard.components.trainer.run_fn",
    "build_model": "nanguard.components.trainer.run_fn",
    "build_model_from_transform": "nanguard.components.trainer.run_fn",
    "diagnose_batch": "nanguard.components.trainer.guard",
    "export_model": "nanguard.components.trainer.run_fn",
    "fit_guarded": "nanguard.components.trainer.run_fn",
    "nonfinite_weights": "nanguard.components.trainer.guard",
    "write_health_report": "nanguard.components.trainer.guard",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
