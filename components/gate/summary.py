"""What the gate decided, read back from its ModelBlessing folder (no ML Metadata needed).

Light (no TensorFlow, Beam, TFDV or TFMA at import): a local folder is read with `open`; a
URI with a scheme (`gs://...`) with `tf.io.gfile`, imported only then.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nanguard.components import vocab
from nanguard.components.errors import InputError

REPORT_FILE_NAME = "gate_report.json"


def summarize(uri: str) -> dict[str, Any]:
    """The gate's facts from ``<uri>/gate_report.json`` (``uri``: the ModelBlessing artifact's).

    Returns:
        ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf`` (ints), ``probes_run``,
        ``probes_failed`` (the failed probes' names), ``blessed`` (bool), ``reasons`` (why not
        blessed), ``outputs`` (per-output counts) and ``uri``. JSON-able; NaN/Inf never occur
        in these fields (they are counts).

    Raises:
        InputError: the folder holds no readable gate_report.json (names the file).
    """
    path = os.path.join(uri, REPORT_FILE_NAME)
    try:
        report = json.loads(_read_text(path))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: no readable gate report ({e}); is {uri} a gate blessing?") from e
    keys = ("examples", "non_finite", "nan", "pos_inf", "neg_inf", "probes_run")
    facts = {k: report[k] for k in keys}
    facts.update(
        probes_failed=list(report["probes_failed"]),
        blessed=bool(report["blessed"]),
        reasons=list(report["reasons"]),
        outputs=report["outputs"],
        uri=uri,
    )
    return vocab.jsonable(facts)


def _read_text(path: str) -> str:
    if "://" not in path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    except tf.errors.OpError as e:
        raise OSError(e.message) from e


def summary_line(summary: dict[str, Any]) -> str:
    """One console line, e.g. "80 examples, 0 non-finite, 0 probe(s) failed: blessed"."""
    verdict = "blessed" if summary["blessed"] else f"NOT blessed ({'; '.join(summary['reasons'])})"
    return (
        f"{summary['examples']} examples, {summary['non_finite']} non-finite, "
        f"{len(summary['probes_failed'])} probe(s) failed: {verdict}"
    )
