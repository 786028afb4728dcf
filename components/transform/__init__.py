"""NaN-safe imputation and scaling for tf.Transform (nanguard issue 4).

Module map: `component.py` (the stock Transform with nanguard's defaults) -> `executor.py`
(stock Do, then writes the record) -> the artifact-free core run inside the preprocessing_fn
(`preprocessing.py`, `imputation.py`, `scaling.py`, `knn.py`, `em.py`, `_em_analysis.py`,
`_stats.py`, `_tensors.py`, `_mode.py`) -> `../transform_record.py` (shared: the record in the
graph and its JSON file); `config.py` (the `transform:` section), `spec.py` (names),
`summary.py` (the record read back for the run summary), `stats_options.py` (post-transform
NaN/Inf validation).
"""

from nanguard.components import _lazy

_EXPORTS = {
    "AUTO_SKEW_THRESHOLD": "nanguard.components.transform.imputation",
    "RECORD_FILENAME": "nanguard.components.transform.spec",
    "TransformConfig": "nanguard.components.transform.config",
    "em_impute": "nanguard.components.transform.em",
    "impute": "nanguard.components.transform.imputation",
    "knn_impute": "nanguard.components.transform.knn",
    "preprocessing_fn": "nanguard.components.transform.preprocessing",
    "read_transform_record": "nanguard.components.transform_record",
    "scale": "nanguard.components.transform.scaling",
    "stats_options_updater_fn": "nanguard.components.transform.stats_options",
    "summarize": "nanguard.components.transform.summary",
    "summary_line": "nanguard.components.transform.summary",
    "write_transform_record": "nanguard.components.transform_record",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
