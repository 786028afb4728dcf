"""What the data guard writes under its ExampleAnomalies artifact's URI, and reading it back.

Layout: ``<uri>/Split-<split>/SchemaDiff.pb`` (one TFDV Anomalies proto per split, as
ExampleValidator writes it) and ``<uri>/data_guard_profile.json`` (the whole profile and the
verdict; its ``"violations"``: every finding as ``Violation.to_dict()``, warnings included),
plus custom properties on the artifact (``violations``: the same list, ``violations.to_json``).
Every JSON file is strict JSON written with
``vocab.dumps`` (a non-finite float would be "NaN"/"Infinity"/"-Infinity"; the profile's own
statistics are finite or null).

Module-level imports are light (no TensorFlow, TFX or Beam): ``summary.py`` reads through here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nanguard.components import vocab

# Suffix of the copy a blocking guard keeps of its output folder: TFX deletes a failed
# execution's outputs, and `nanguard report` reads the evidence from `<uri>.blocked`.
KEPT_SUFFIX = ".blocked"

# Files in the ExampleAnomalies artifact.
ANOMALIES_FILE_NAME = "SchemaDiff.pb"  # = example_validator.executor.DEFAULT_FILE_NAME
PROFILE_FILE_NAME = "data_guard_profile.json"
# Per-split profiles the Beam pipeline writes under <uri>/TMP_DIR_NAME, deleted after reading.
TMP_DIR_NAME = ".data_guard_tmp"

# Custom properties of the ExampleAnomalies artifact.
BLESSED_PROPERTY = "blessed"  # int 1/0, for tfx.dsl.Cond
PROFILE_PROPERTY_PREFIX = "profile_"  # string JSON per split: profile_<split>
VIOLATIONS_PROPERTY = "violations"  # `violations.to_json`: every finding, warnings included
CONFIG_PROPERTY = "policy"  # string JSON of DataGuardConfig (the property keeps its name)
INT_TOTAL_PROPERTIES = (
    "num_rows",
    "num_missing",
    "num_nan",
    "num_pos_inf",
    "num_neg_inf",
    "num_huge",
    "num_violations",  # blocking ones
    "num_warnings",
    "num_label_missing",  # rows without a usable label (left out under unlabelled_rows: drop)
)


def write_json(obj: Any, path: str) -> None:
    """Writes ``obj`` as strict JSON (``vocab.dumps``) to ``path`` on any tf.io.gfile filesystem.

    Creates the folder. NaN/Inf floats are written as "NaN"/"Infinity"/"-Infinity".
    """
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(vocab.dumps(obj, indent=2, sort_keys=True))


def read_json(path: str) -> Any:
    """Reads a JSON file written by ``write_json`` (local paths without TensorFlow)."""
    if "://" not in path:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "r") as f:
        return json.load(f)


def read_profile(uri: str) -> dict[str, Any]:
    """The ``data_guard_profile.json`` document under an ExampleAnomalies artifact URI."""
    return read_json(os.path.join(uri, PROFILE_FILE_NAME))


def write_outputs(
    anomalies_artifact: Any,
    result: Mapping[str, Any],
    config_json: str,
    label_key: str,
) -> None:
    """Writes SchemaDiff.pb per split, data_guard_profile.json and the custom properties.

    Args:
      anomalies_artifact: The ExampleAnomalies output artifact (its URI and split names set).
      result: ``core.judge_splits``'s result.
      config_json: ``DataGuardConfig.to_json()``.
      label_key: The label feature (``vocab.NO_LABEL`` for none).
    """
    from tfx.types import artifact_utils
    from tfx.utils import writer_utils

    from nanguard.components import violations as violations_lib

    document = {
        "blessed": result["blessed"],
        "label_key": label_key,
        "policy": json.loads(config_json),
        "totals": result["totals"],
        "violations": [v.to_dict() for v in result["violations"]],
        "splits": {},
    }
    for split, split_result in result["splits"].items():
        split_uri = artifact_utils.get_split_uri([anomalies_artifact], split)
        writer_utils.write_anomalies(
            os.path.join(split_uri, ANOMALIES_FILE_NAME), split_result["anomalies"]
        )
        public = {k: v for k, v in split_result.items() if k != "anomalies"}
        public["violations"] = [v.to_dict() for v in split_result["violations"]]
        document["splits"][split] = public
        anomalies_artifact.set_string_custom_property(
            PROFILE_PROPERTY_PREFIX + split, vocab.dumps(public, sort_keys=True)
        )
    write_json(document, os.path.join(anomalies_artifact.uri, PROFILE_FILE_NAME))
    anomalies_artifact.set_int_custom_property(BLESSED_PROPERTY, int(result["blessed"]))
    anomalies_artifact.set_string_custom_property(
        VIOLATIONS_PROPERTY, violations_lib.to_json(result["violations"])
    )
    anomalies_artifact.set_string_custom_property(CONFIG_PROPERTY, config_json)
    for key, value in result["totals"].items():
        anomalies_artifact.set_int_custom_property(key, int(value))
