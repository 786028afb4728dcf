"""nanguard guarded training: a `run_fn` for the stock TFX Trainer with a non-finite guard.

Trainer(run_fn="nanguard.components.trainer.run_fn.run_fn", custom_config={...}). `run_fn` is
not re-exported here: the name stays the module `nanguard.components.trainer.run_fn`.
"""

from nanguard.components.trainer.guard import (
    HEALTH_REPORT_FILE,
    GuardCallback,
    GuardedModel,
    diagnose_batch,
    nonfinite_weights,
    write_health_report,
)
from nanguard.components.trainer.run_fn import (
    TrainerConfig,
    build_model,
    build_model_from_transform,
    export_model,
    fit_guarded,
)

__all__ = [
    "HEALTH_REPORT_FILE",
    "GuardCallback",
    "GuardedModel",
    "TrainerConfig",
    "build_model",
    "build_model_from_transform",
    "diagnose_batch",
    "export_model",
    "fit_guarded",
    "nonfinite_weights",
    "write_health_report",
]
