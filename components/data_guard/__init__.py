"""nanguard data guard: exact NaN/Inf/missing profile, hardened schema, blocking verdict."""

from nanguard.components import _lazy

_EXPORTS = {
    "DataGuard": "nanguard.components.data_guard.component",
    "DataGuardConfig": "nanguard.components.data_guard.config",
    "DataGuardSpec": "nanguard.components.data_guard.spec",
    "HUGE_THRESHOLD": "nanguard.components.data_guard.counts",
    "HardenSchema": "nanguard.components.data_guard.harden_component",
    "ProfileCombineFn": "nanguard.components.data_guard.beam_io",
    "ProfileRecordBatches": "nanguard.components.data_guard.beam_io",
    "ReadTFExampleFiles": "nanguard.components.data_guard.beam_io",
    "harden_inferred_schema": "nanguard.components.schema",
    "harden_schema": "nanguard.components.schema",
    "harden_schema_file": "nanguard.components.schema",
    "profile_record_batches": "nanguard.components.data_guard.counts",
    "scan_path": "nanguard.components.data_guard.scan",
    "summarize": "nanguard.components.data_guard.summary",
    "summary_line": "nanguard.components.data_guard.summary",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
