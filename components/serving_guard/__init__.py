"""nanguard serving guard: checks around a model where it is served (`wrap-model`) and a watch
on what it is asked and answers there (`monitor`)."""

from nanguard.components import _lazy

_EXPORTS = {
    "ServedCounts": "nanguard.components.serving_guard.monitor",
    "judge": "nanguard.components.serving_guard.monitor",
    "monitor_logs": "nanguard.components.serving_guard.monitor_cli",
    "read_logs": "nanguard.components.serving_guard.served_logs",
    "wrap_model": "nanguard.components.serving_guard.wrap",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
