"""nanguard data guard: exact NaN/Inf/missing profile, hardened schema, blocking verdict."""

from nanguard.components import _lazy

_EXPORTS = {
    "DataGuard": "nanguard.components.data_guard.component",
    "DataGuardConfig": "nanguard.components.data_guard.config",
    "DataGuardPolicy": "nanguard.components.data_guard.policy",
    "DataGuardSpec": "nanguard.components.data_guard.component",
    "HUGE_THRESHOLD": "nanguard.components.data_guard.profile",
    "ProfileCombineFn": "nanguard.components.data_guard.profile",
    "ProfileRecordBatches": "nanguard.components.data_guard.profile",
    "harden_schema": "nanguard.components.data_guard.schema",
    "harden_schema_file": "nanguard.components.data_guard.schema",
    "normalize_missing_tokens": "nanguard.components.data_guard.scan",
    "profile_record_batches": "nanguard.components.data_guard.profile",
    "scan_path": "nanguard.components.data_guard.scan",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
