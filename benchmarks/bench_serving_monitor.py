"""Benchmark: `nanguard monitor` on 1,000,000 logged requests vs a per-record Python loop and
vs TFDV, whole processes.

Writes ``--requests`` PredictionLog records as TF Serving's request logging writes them (a
TFRecord file; one predict_log per request: the `examples` input holding one serialized
tf.Example of 12 raw features, 9 float with ~5% missing, 1% NaN, 0.1% +Inf and 0.1% -Inf, one
int, two strings; the response's 3-class `outputs` with 0.01% NaN rows, `nanguard_finite` and
`nanguard_repaired`) and a training profile, then times, interleaved over ``--rounds``:

  (a) ``nanguard monitor LOGS --profile P --output OUT`` (the whole command: TensorFlow's
      import included; the monitor's own reading and counting time is reported too)
  (b) a plain per-record Python loop doing the same counting: the same tf.data reader, then
      ``PredictionLog.FromString``, ``Example.FromString`` and a loop over features and values
  (c) TFDV's ``generate_statistics_from_tfrecord`` on the same tf.Examples (written as a
      TFRecord of tf.Examples beforehand, untimed; TFDV reads requests' inputs only)

asserts that (a)'s counts equal (b)'s, prints requests/second and the ratios, and writes
``benchmarks/SERVING_MONITOR.json``.

  .venv/bin/python benchmarks/bench_serving_monitor.py --requests 1000000
  .venv/bin/python benchmarks/bench_serving_monitor.py --requests 20000 --rounds 1  # quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FLOATS = [f"f{i}" for i in range(9)]
KINDS = {**dict.fromkeys(FLOATS, "FLOAT"), "count": "INT", "city": "STRING", "device": "STRING"}


def _write_logs(requests: int, folder: str, seed: int = 0) -> tuple[str, str]:
    """(PredictionLog TFRecord, tf.Example TFRecord) of `requests` one-example requests."""
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    from tfx_bsl.coders import example_coder

    rng = np.random.default_rng(seed)
    arrays, names = [], []
    for name in [*FLOATS, "count", "city", "device"]:
        u = rng.random(requests)
        if name in FLOATS:
            v = rng.normal(size=requests).astype(np.float32)
            v[(u >= 0.05) & (u < 0.06)] = np.nan
            v[(u >= 0.06) & (u < 0.061)] = np.inf
            v[(u >= 0.061) & (u < 0.062)] = -np.inf
            values = pa.array(v)
        elif name == "count":
            values = pa.array(rng.integers(0, 100, requests))
        else:
            values = pa.array(rng.choice([b"a", b"b", b"c"], requests), pa.binary())
        present = u >= 0.05
        offsets = np.concatenate([[0], np.cumsum(present)]).astype(np.int32)
        lists = pa.ListArray.from_arrays(
            pa.array(offsets, mask=np.concatenate([~present, [False]])),
            values.filter(pa.array(present)),
        )
        arrays.append(lists)
        names.append(name)
    batch = pa.RecordBatch.from_arrays(arrays, names)
    examples = example_coder.RecordBatchToExamplesEncoder().encode(batch)
    outputs = rng.dirichlet([1, 1, 1], requests).astype(np.float32)
    outputs[rng.random(requests) < 0.0001, 0] = np.nan
    finite = np.isfinite(outputs).all(axis=1)
    logs_path = os.path.join(folder, "prediction_log.tfrecord")
    examples_path = os.path.join(folder, "examples.tfrecord")
    log = prediction_log_pb2.PredictionLog()
    request, response = log.predict_log.request, log.predict_log.response
    request.model_spec.name = "nanguard"
    # DataType codes: 7 string, 1 float, 10 bool, 9 int64; values in the *_val fields, as TF
    # Serving writes its responses
    tensor = _tensor(request.inputs["examples"], 7, 1)
    out = _tensor(response.outputs["outputs"], 1, 1, 3)
    flag = _tensor(response.outputs["nanguard_finite"], 10, 1)
    repaired = _tensor(response.outputs["nanguard_repaired"], 9, 1)
    with tf.io.TFRecordWriter(logs_path) as w, tf.io.TFRecordWriter(examples_path) as e:
        for i, example in enumerate(examples):
            tensor.string_val[:] = [example]
            out.float_val[:] = outputs[i].tolist()
            flag.bool_val[:] = [bool(finite[i])]
            repaired.int64_val[:] = [0]
            w.write(log.SerializeToString())
            e.write(example)
    return logs_path, examples_path


def _tensor(proto, dtype: int, *dims: int):
    """`proto` (a TensorProto) given `dtype` and shape `dims`; returned."""
    proto.dtype = dtype
    for size in dims:
        proto.tensor_shape.dim.add().size = size
    return proto


def _profile(path: str) -> None:
    features = {
        n: {"type": k, "missing": 500, "num_values": 9500, "nan": 95 if k == "FLOAT" else 0,
            "pos_inf": 9 if k == "FLOAT" else 0, "neg_inf": 9 if k == "FLOAT" else 0}
        for n, k in KINDS.items()
    }  # fmt: skip
    with open(path, "w") as f:
        json.dump({"label_key": "", "splits": {"train": {"rows": 10000, "features": features}}}, f)


def _reference(logs_path: str, out: str) -> None:
    """(b): a per-record loop over the log, counting what the monitor counts."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    start = time.perf_counter()
    counts = {n: dict.fromkeys(("missing", "nan", "pos_inf", "neg_inf"), 0) for n in KINDS}
    rows = non_finite = 0
    for batch in tf.data.TFRecordDataset(logs_path).batch(1024).as_numpy_iterator():
        for record in batch:
            log = prediction_log_pb2.PredictionLog.FromString(record)
            for serialized in log.predict_log.request.inputs["examples"].string_val:
                rows += 1
                features = tf.train.Example.FromString(serialized).features.feature
                for name, c in counts.items():
                    feature = features.get(name)
                    kind = feature.WhichOneof("kind") if feature is not None else None
                    values = getattr(feature, kind).value if kind else ()
                    if not values:
                        c["missing"] += 1
                    if kind == "float_list":
                        for v in values:
                            if math.isnan(v):
                                c["nan"] += 1
                            elif v == math.inf:
                                c["pos_inf"] += 1
                            elif v == -math.inf:
                                c["neg_inf"] += 1
            values = log.predict_log.response.outputs["outputs"].float_val
            non_finite += not all(math.isfinite(v) for v in values)
    with open(out, "w") as f:
        json.dump({"rows": rows, "features": counts, "non_finite": non_finite,
                   "seconds": time.perf_counter() - start}, f)  # fmt: skip


def _tfdv(examples_path: str, out: str) -> None:
    """(c): TFDV's statistics of the requests' tf.Examples (its default DirectRunner)."""
    import tensorflow_data_validation as tfdv

    tfdv.generate_statistics_from_tfrecord(examples_path, output_path=out)


def _run(command: list[str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    if proc.returncode not in (0, 3):  # 3: the NaN predictions are a violation, as meant
        raise SystemExit(f"{command} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def _check(monitor_json: str, reference_json: str) -> dict:
    with open(monitor_json) as f:
        got = json.load(f)
    with open(reference_json) as f:
        ref = json.load(f)
    assert got["examples"] == ref["rows"], (got["examples"], ref["rows"])
    assert got["predictions"]["non_finite"] == ref["non_finite"]
    for name, counts in ref["features"].items():
        mine = {k: got["features"][name][k] for k in counts}
        assert mine == counts, (name, mine, counts)
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-tfdv", action="store_true", help="leave (c) out")
    parser.add_argument("--output", default=os.path.join(HERE, "SERVING_MONITOR.json"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        {"reference": _reference, "tfdv": _tfdv}[args.child[0]](*args.child[1:])
        return 0
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    me = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory(prefix="bench_monitor_") as tmp:
        start = time.monotonic()
        logs_path, examples_path = _write_logs(args.requests, tmp)
        print(f"wrote {args.requests} requests in {time.monotonic() - start:.0f} s "
              f"({os.path.getsize(logs_path) / 1e6:.0f} MB)", flush=True)  # fmt: skip
        profile = os.path.join(tmp, "data_guard_profile.json")
        _profile(profile)
        commands = {
            "nanguard monitor": [nanguard, "monitor", logs_path, "--profile", profile,
                                 "--output", f"{tmp}/monitor.json"],
            "per-record Python loop": [sys.executable, me, "--child", "reference", logs_path,
                                       f"{tmp}/reference.json"],
        }  # fmt: skip
        if not args.no_tfdv:
            commands["TFDV statistics"] = [
                sys.executable, me, "--child", "tfdv", examples_path, f"{tmp}/stats.pb"
            ]  # fmt: skip
        walls = {name: [] for name in commands}
        inner = {"nanguard monitor": [], "per-record Python loop": []}
        for r in range(args.rounds):
            for name, command in commands.items():
                walls[name].append(_run(command))
                print(f"round {r + 1}: {name} {walls[name][-1]:.1f} s", flush=True)
            got = _check(f"{tmp}/monitor.json", f"{tmp}/reference.json")
            inner["nanguard monitor"].append(got["seconds"])
            with open(f"{tmp}/reference.json") as f:
                inner["per-record Python loop"].append(json.load(f)["seconds"])
    median = {name: statistics.median(w) for name, w in walls.items()}
    counting = {name: statistics.median(s) for name, s in inner.items()}
    result = {
        "requests": args.requests,
        "rounds": args.rounds,
        "wall_seconds": median,
        "reading_and_counting_seconds": counting,
        "requests_per_second": {n: args.requests / s for n, s in median.items()},
        "counting_requests_per_second": {n: args.requests / s for n, s in counting.items()},
        "ratios": {n: median["nanguard monitor"] / s for n, s in median.items()},
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    for name in commands:
        print(
            f"{name}: {median[name]:.1f} s, {args.requests / median[name]:,.0f} requests/s"
            + (f" (reading+counting {counting[name]:.1f} s, "
               f"{args.requests / counting[name]:,.0f}/s)" if name in counting else "")
            + f"; monitor / this = {result['ratios'][name]:.3f}x"
        )  # fmt: skip
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)
    print(f"counts equal the per-record loop's; written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
