"""The training health report: its file name, its JSON spelling, and writing and reading it.

`run_fn` writes the report to `<model_run_dir>/nanguard_training_health.json` (the ModelRun
artifact's URI) in every case, including failures. Nothing here imports TensorFlow at module
level, so `summary.py` can read a report cheaply.

NaN and Inf: every non-finite float in the report is held and written as the strings of
`vocab`: "NaN", "Infinity", "-Infinity" (strict JSON; `json.loads` reads it, `vocab.as_float`
turns one back into a float).
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging

from nanguard.components import vocab

HEALTH_REPORT_FILE = "nanguard_training_health.json"


def json_float(value: Any) -> float | str | None:
    """`float(value)` in the report's spelling: NaN -> "NaN", +-Inf -> "Infinity"/"-Infinity".

    `value` may be a Python or numpy number or a scalar tensor; None stays None.
    """
    return None if value is None else vocab.jsonable(float(value))


def write_health_report(report: dict, directory: str) -> str:
    """Writes `report` as JSON to `directory/HEALTH_REPORT_FILE` and returns the path.

    Every NaN and Inf, wherever it sits in the report, is written as the JSON string "NaN",
    "Infinity" or "-Infinity" (`vocab.dumps`: never a bare token that strict JSON readers
    reject). Values JSON cannot hold otherwise are written as their `str`.
    """
    import tensorflow as tf  # gfile: local paths and gs:// alike

    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, HEALTH_REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(vocab.dumps(report, indent=2, default=str))
    logging.info("Training health report written to %s", path)
    return path


def read_health_report(directory: str) -> dict | None:
    """The report `write_health_report` wrote into `directory`, or None if there is none.

    Non-finite numbers stay in their JSON spelling ("NaN", "Infinity", "-Infinity").
    """
    path = os.path.join(directory, HEALTH_REPORT_FILE)
    if "://" in directory:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as handle:
            return json.load(handle)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)
