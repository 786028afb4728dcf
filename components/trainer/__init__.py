"""nanguard guarded training: a `run_fn` for the stock TFX Trainer with a non-finite guard.

Trainer(run_fn="nanguard.components.trainer.run_fn.run_fn",
custom_config=TrainerConfig.custom_config(label_key)). `run_fn` is not re-exported here: the
name stays the module `nanguard.components.trainer.run_fn`. See README.md for the module map.

`guard(model, policy=...)` guards any tf_keras model (`any_model.py`); the callback and the
fit loop of nanguard's own model live in `fit.py`.
"""

from nanguard.components import _lazy

_EXPORTS = {
    "GuardCallback": "nanguard.components.trainer.fit",
    "GuardedModel": "nanguard.components.trainer.guarded_model",
    "HEALTH_REPORT_FILE": "nanguard.components.trainer.health",
    "TrainerConfig": "nanguard.components.trainer.config",
    "build_model": "nanguard.components.trainer.model",
    "check_export": "nanguard.components.trainer.any_model",
    "guard": "nanguard.components.trainer.any_model",
    "guard_model": "nanguard.components.trainer.any_model",
    "is_guarded": "nanguard.components.trainer.any_model",
    "build_model_from_transform": "nanguard.components.trainer.model",
    "diagnose_batch": "nanguard.components.trainer.diagnosis",
    "drop_missing_labels": "nanguard.components.trainer.data",
    "export_model": "nanguard.components.trainer.export",
    "fit_guarded": "nanguard.components.trainer.fit",
    "nonfinite_weights": "nanguard.components.trainer.diagnosis",
    "summarize": "nanguard.components.trainer.summary",
    "summary_line": "nanguard.components.trainer.summary",
    "write_health_report": "nanguard.components.trainer.health",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
