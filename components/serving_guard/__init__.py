"""nanguard serving guard: watch what a pushed model is asked and answers where it is served."""

from nanguard.components import _lazy

_EXPORTS = {
    "ServedCounts": "nanguard.components.serving_guard.monitor",
    "judge": "nanguard.components.serving_guard.monitor",
    "monitor_logs": "nanguard.components.serving_guard.cli",
    "read_logs": "nanguard.components.serving_guard.served_logs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
