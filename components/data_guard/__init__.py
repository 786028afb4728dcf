"""nanguard data guard: exact NaN/Inf/missing profile, hardened schema, blocking verdict."""

from nanguard.components.data_guard.component import DataGuard, DataGuardSpec
from nanguard.components.data_guard.executor import Executor as DataGuardExecutor
from nanguard.components.data_guard.policy import DataGuardPolicy
from nanguard.components.data_guard.profile import (
    HUGE_THRESHOLD,
    ProfileCombineFn,
    ProfileRecordBatches,
    profile_record_batches,
)
from nanguard.components.data_guard.scan import normalize_missing_tokens, scan_path
from nanguard.components.data_guard.schema import harden_schema, harden_schema_file

__all__ = [
    "HUGE_THRESHOLD",
    "DataGuard",
    "DataGuardExecutor",
    "DataGuardPolicy",
    "DataGuardSpec",
    "ProfileCombineFn",
    "ProfileRecordBatches",
    "harden_schema",
    "harden_schema_file",
    "normalize_missing_tokens",
    "profile_record_batches",
    "scan_path",
]
