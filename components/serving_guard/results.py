"""Where the monitor finds a run's training profile and keeps its results under a run's root.

    ROOT/served/<run id>/monitor-<UTC time>.json     # one per `nanguard monitor --run ROOT`

`nanguard report` shows the newest result of the run it reports on (`latest_result`). Imports
are light (ML Metadata only inside `reference_from_run`).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any

from absl import logging

from nanguard.components import vocab
from nanguard.components.errors import InputError

SERVED_DIR = "served"
PREFIX = "monitor-"


def results_dir(root: str, run_id: str) -> str:
    """`ROOT/served/<run id>`, the run id made safe for a folder name."""
    return os.path.join(root, SERVED_DIR, re.sub(r"[^A-Za-z0-9._-]", "_", run_id))


def write_result(root: str, run_id: str, result: dict[str, Any]) -> str:
    """Writes `result` (strict JSON, `vocab.dumps`) as a new file of the run; returns its path."""
    folder = results_dir(root, run_id)
    os.makedirs(folder, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = os.path.join(folder, f"{PREFIX}{stamp}.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(vocab.dumps(result, indent=1, sort_keys=True))
    return path


def latest_result(root: str, run_id: str) -> dict[str, Any] | None:
    """The newest monitor result of `run_id` under `root` (with its `path`), or None."""
    folder = results_dir(root, run_id)
    if not os.path.isdir(folder):
        return None
    names = sorted(n for n in os.listdir(folder) if n.startswith(PREFIX) and n.endswith(".json"))
    if not names:
        return None
    path = os.path.join(folder, names[-1])
    with open(path, encoding="utf-8") as f:
        return {**json.load(f), "path": path}


def ranges_from_run(root: str, run_id: str) -> dict[str, tuple[float, float] | None]:
    """The raw ranges the run's transform keeps per feature (`transform_record.repair_ranges`:
    a value outside is clipped, so repaired); {} when the run has no transform graph or its
    graph holds no nanguard record (a team's own preprocessing_fn)."""
    from nanguard.pipelines import mlmd, run_record

    metadata = os.path.join(root, "metadata.sqlite")
    with mlmd.quiet("absl", "tensorflow"):
        record = run_record.read_run(metadata, run_id, read=())
    output = record.output("Transform", "transform_graph")
    if output is None:
        return {}
    from nanguard.components.transform_record import repair_ranges

    try:
        return repair_ranges(output.uri)
    except (OSError, ValueError, KeyError) as e:  # no graph, or no record in it
        logging.warning("No transform ranges in %s (%s): out-of-range not counted", output.uri, e)
        return {}


def reference_from_run(root: str, run_id: str | None = None) -> tuple[str, str]:
    """`(run id, data_guard_profile.json path)`: of `run_id`, else of the newest run under
    `root` that pushed a model (the model being served). InputError says what is missing."""
    from nanguard.components.data_guard.outputs import PROFILE_FILE_NAME
    from nanguard.pipelines import mlmd, run_record

    metadata = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(metadata):
        raise InputError(f"--run {root}: no metadata.sqlite; pass the --root of `nanguard run`")
    with mlmd.quiet("absl", "tensorflow"):
        if run_id is None:
            found = run_record.last_pushed_guard_output(metadata)
            if found is None:
                raise InputError(
                    f"--run {root}: no run there pushed a model; pass --run-id or --profile"
                )
            run_id, uri = found
        else:
            if run_id not in mlmd.run_ids(metadata):
                raise InputError(f"--run-id {run_id}: no such run under {root}")
            output = run_record.read_run(metadata, run_id, read=()).output("DataGuard", "anomalies")
            if output is None:
                raise InputError(f"--run-id {run_id}: the run has no data guard output")
            uri = output.uri
    path = os.path.join(uri, PROFILE_FILE_NAME)
    if not os.path.exists(path) and os.path.exists(path.replace(uri, uri + ".blocked")):
        path = os.path.join(uri + ".blocked", PROFILE_FILE_NAME)
    return run_id, path
