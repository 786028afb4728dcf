"""A `nanguard run` on a runner, each stage's engine and time, and the numbers two runs must share.

Used by `tests/flink/` (Flink against the DirectRunner on the bundled penguins) and by
`benchmarks/bench_flink.py` (the same at 100k / 1M synthetic rows). Each run is the command a
user types (`nanguard run --beam-arg=...`) in a fresh process; what ran where is read back
afterwards: stage times from ML Metadata (each execution's create and last-update time), Flink
jobs from the cluster's REST API (`/jobs/overview`), matched by time.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import subprocess
import sys
import time
import zlib
from typing import Any

# The stages that run Beam pipelines (the rest run in the launcher: TFX's own code, no Beam).
BEAM_STAGES = (
    "CsvExampleGen",
    "StatisticsGen",
    "DataGuard",
    "Transform",
    "Evaluator",
    "FinitePredictionGate",
)


@dataclasses.dataclass
class Run:
    root: str
    returncode: int
    seconds: float
    stdout: str
    run_id: str = ""
    stages: list[dict] = dataclasses.field(default_factory=list)  # node, start_ms, end_ms, seconds


def nanguard_run(root: str, beam_args: list[str], *flags: str, timeout: float = 7200) -> Run:
    """`nanguard run --root ROOT FLAGS --beam-arg=...` in a new process; its stages from MLMD."""
    command = [sys.executable, "-m", "nanguard.pipelines.cli", "run", "--root", root, *flags]
    command += [f"--beam-arg={a}" for a in beam_args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    run = Run(root, proc.returncode, time.monotonic() - start, proc.stdout + proc.stderr)
    run.run_id, run.stages = _stages(os.path.join(root, "metadata.sqlite"))
    return run


def _stages(metadata_path: str) -> tuple[str, list[dict]]:
    from nanguard.pipelines import mlmd

    if not os.path.exists(metadata_path):
        return "", []
    store = mlmd.store(metadata_path)
    runs = store.get_contexts_by_type(mlmd.PIPELINE_RUN_CONTEXT)
    if not runs:
        return "", []
    context = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    node_type = store.get_context_type(mlmd.NODE_CONTEXT).id
    stages = []
    for execution in store.get_executions_by_context(context.id):
        nodes = [
            c.name.split(".", 1)[-1]
            for c in store.get_contexts_by_execution(execution.id)
            if c.type_id == node_type
        ]
        start, end = execution.create_time_since_epoch, execution.last_update_time_since_epoch
        stages.append(
            {"node": nodes[0] if nodes else str(execution.id), "start_ms": start, "end_ms": end}
        )
    stages.sort(key=lambda s: s["start_ms"])
    for s in stages:
        s["seconds"] = round((s["end_ms"] - s["start_ms"]) / 1000, 1)
    return context.name, stages


def assign_jobs(stages: list[dict], jobs: list[dict]) -> None:
    """Adds to each stage the Flink jobs that started while it ran (`flink_jobs`: names)."""
    for stage in stages:
        stage["flink_jobs"] = [
            f"{j['name']} {j['state']}"
            for j in jobs
            if stage["start_ms"] <= j["start-time"] <= stage["end_ms"]
        ]


def engine_lines(stages: list[dict], engine: str) -> list[str]:
    """One line per stage: node, engine (Flink jobs it ran, else in the launcher), seconds."""
    lines = []
    for s in stages:
        jobs = s.get("flink_jobs")
        if jobs is None:
            where = engine if s["node"] in BEAM_STAGES else "launcher"
        else:
            where = f"Flink ({len(jobs)} job(s))" if jobs else "launcher"
        lines.append(f"  {s['node']:<22} {where:<22} {s['seconds']:8.1f} s")
    return lines


# ---------------------------------------------------------------------------------------------
# The numbers two runs of the same data must share
# ---------------------------------------------------------------------------------------------


def _uri(outputs: dict, node: str, key: str) -> str | None:
    artifacts = outputs.get(node, {}).get(key) or []
    return artifacts[0].uri if artifacts else None


def _split_dirs(uri: str) -> dict[str, str]:
    return {os.path.basename(d)[len("Split-") :]: d for d in sorted(glob.glob(f"{uri}/Split-*"))}


def _stats(uri: str) -> dict[str, Any]:
    """Per split and feature: TFDV's counts and moments from a statistics artifact."""
    from tensorflow_data_validation.utils import stats_util

    out = {}
    for split, folder in _split_dirs(uri).items():
        stats = stats_util.load_stats_binary(os.path.join(folder, "FeatureStats.pb"))
        for dataset in stats.datasets:
            out[f"{split}/num_examples"] = int(dataset.num_examples)
            for feature in dataset.features:
                name = ".".join(feature.path.step)
                kind = feature.WhichOneof("stats")
                values = getattr(feature, kind)
                common = values.common_stats
                out[f"{split}/{name}/num_non_missing"] = int(common.num_non_missing)
                out[f"{split}/{name}/num_missing"] = int(common.num_missing)
                if kind == "num_stats":
                    for k in ("mean", "std_dev", "min", "max", "num_zeros"):
                        out[f"{split}/{name}/{k}"] = float(getattr(values, k))
                else:
                    out[f"{split}/{name}/unique"] = int(values.unique)
    return out


def _examples(uri: str) -> dict[str, Any]:
    """Per split and feature of a TFRecord Examples artifact: count, sum, sum of squares, min,
    max of the values (and the count of examples): equal outputs whatever the sharding."""
    import numpy as np
    import tensorflow as tf

    out = {}
    for split, folder in _split_dirs(uri).items():
        files = sorted(glob.glob(os.path.join(folder, "*")))
        values: dict[str, list] = {}
        n = 0
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            n += 1
            for name, feature in tf.train.Example.FromString(record).features.feature.items():
                kind = feature.WhichOneof("kind")
                if kind in ("float_list", "int64_list"):
                    values.setdefault(name, []).extend(getattr(feature, kind).value)
                elif kind == "bytes_list":
                    texts = feature.bytes_list.value  # as numbers: a checksum of each text
                    values.setdefault(name, []).extend(zlib.crc32(v) % 1000003 for v in texts)
        out[f"{split}/examples"] = n
        for name, vals in values.items():
            a = np.asarray(vals, dtype=np.float64)
            out[f"{split}/{name}/count"] = int(a.size)
            out[f"{split}/{name}/non_finite"] = int(np.sum(~np.isfinite(a)))
            for k, f in (("sum", np.sum), ("sumsq", lambda x: np.sum(x * x))):
                out[f"{split}/{name}/{k}"] = float(f(a))
            out[f"{split}/{name}/min"], out[f"{split}/{name}/max"] = float(a.min()), float(a.max())
    return out


def numbers(run: Run, examples: bool = True) -> dict[str, dict[str, Any]]:
    """What the run's Beam stages computed, by stage: flat `{key: number or text}` each."""
    from nanguard.components.data_guard import outputs as guard_outputs
    from nanguard.components.gate import summary as gate_summary
    from nanguard.components.transform import summary as transform_summary
    from nanguard.pipelines import mlmd

    store = mlmd.store(os.path.join(run.root, "metadata.sqlite"))
    (context,) = [c for c in mlmd.run_contexts(store) if c.name == run.run_id]
    outputs = mlmd.read_executions(store, context)[1]
    found: dict[str, dict[str, Any]] = {}
    uri = _uri(outputs, "CsvExampleGen", "examples")
    if uri and examples:
        found["CsvExampleGen"] = _examples(uri)
    if uri := _uri(outputs, "StatisticsGen", "statistics"):
        found["StatisticsGen"] = _stats(uri)
    if uri := _uri(outputs, "DataGuard", "anomalies"):
        profile = guard_outputs.read_profile(uri)
        flat = {f"totals/{k}": v for k, v in profile["totals"].items()}
        flat["blessed"] = profile["blessed"]
        for split, body in profile["splits"].items():
            flat[f"{split}/rows"] = body["rows"]
            for feature, counts in (body.get("features") or {}).items():
                for k, v in counts.items():
                    if isinstance(v, (int, float, str, bool)):
                        flat[f"{split}/{feature}/{k}"] = v
        found["DataGuard"] = flat
    if uri := _uri(outputs, "Transform", "transform_graph"):
        record = transform_summary.summarize(uri)["features"]
        flat = {f"{f}/{k}": v for f, facts in record.items() for k, v in facts.items()}
        if stats_uri := _uri(outputs, "Transform", "post_transform_stats"):
            flat.update({f"post/{k}": v for k, v in _stats(stats_uri).items()})
        if examples and (ex_uri := _uri(outputs, "Transform", "transformed_examples")):
            flat.update({f"out/{k}": v for k, v in _examples(ex_uri).items()})
        found["Transform"] = flat
    if uri := _uri(outputs, "FinitePredictionGate", "blessing"):
        facts = gate_summary.summarize(uri)
        keys = ("examples", "non_finite", "nan", "pos_inf", "neg_inf", "probes_run", "blessed")
        flat = {k: facts[k] for k in keys}
        flat["probes_failed"] = ",".join(facts["probes_failed"])
        found["FinitePredictionGate"] = flat
    return found


def differences(a: dict, b: dict, rtol: float = 1e-4, atol: float = 1e-6) -> list[str]:
    """Where two `numbers()` disagree: ints, texts and flags exactly, floats within tolerance."""
    import math

    diffs = []
    for stage in sorted(set(a) | set(b)):
        x, y = a.get(stage, {}), b.get(stage, {})
        for key in sorted(set(x) | set(y)):
            u, v = x.get(key), y.get(key)
            if isinstance(u, float) or isinstance(v, float):
                try:
                    u, v = float(u), float(v)
                except (TypeError, ValueError):
                    diffs.append(f"{stage} {key}: {u!r} != {v!r}")
                    continue
                same = (math.isnan(u) and math.isnan(v)) or math.isclose(
                    u, v, rel_tol=rtol, abs_tol=atol
                )
            else:
                same = u == v
            if not same:
                diffs.append(f"{stage} {key}: {u!r} != {v!r}")
    return diffs


def save(path: str, document: dict) -> None:
    with open(path, "w") as f:
        json.dump(document, f, indent=1, default=str)
