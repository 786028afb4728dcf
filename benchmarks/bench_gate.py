"""Benchmark: the finite-prediction gate vs the stock TFMA evaluation, side by side in one run.

Same SavedModel (serialized tf.Example in), same GZIP TFRecord data, both on the Beam
DirectRunner:

* gate: core.check_model over the data (Beam, batched signature calls, vectorised counting)
  plus the hostile probes;
* stock: tfma.run_model_analysis (what the Evaluator runs) with one metric (ExampleCount by
  default, the cheapest).

Usage:
    .venv/bin/python benchmarks/bench_gate.py --rows 100000
Target: gate time <= 0.5x stock time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pyarrow as pa
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions

from nanguard.components import profiles
from nanguard.components.gate import core, records, testing
from nanguard.components.gate.config import GateConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=GateConfig().batch_size)
    parser.add_argument("--metric", default="ExampleCount", help="TFMA metric class for stock.")
    parser.add_argument("--model", default="healthy", choices=testing.MODEL_KINDS)
    parser.add_argument("--beam-arg", action="append", default=[], help="Beam arg for both.")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_gate_")
    try:
        _compare(args, tmp)
    finally:  # also when a run fails: the benchmark leaves no temporary folder
        shutil.rmtree(tmp, ignore_errors=True)


def _compare(args: argparse.Namespace, tmp: str) -> None:
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "x": rng.uniform(-2.0, 40.0, args.rows).astype(np.float32),
            "n": rng.integers(0, 60, args.rows),
            "color": rng.choice(np.array(["red", "green", "blue"]), args.rows),
        }
    )
    examples = records.table_to_examples(table)
    data = testing.write_tfrecord(os.path.join(tmp, "data", "eval.gz"), examples)
    model_dir = testing.save_model(os.path.join(tmp, "model"), args.model)
    print(f"rows={args.rows} model={args.model} batch_size={args.batch_size} data={data}")

    start = time.perf_counter()
    report = core.check_model(
        model_dir,
        {"eval": os.path.join(os.path.dirname(data), "*")},
        GateConfig().replace(batch_size=args.batch_size),
        profiles=profiles.profiles_from_table(table),
        beam_pipeline_args=args.beam_arg,
        work_dir=tmp,
    )
    gate_s = time.perf_counter() - start
    print(
        f"gate:  {gate_s:8.2f} s  examples={report['examples']} non_finite={report['non_finite']} "
        f"probes_run={report['probes_run']} blessed={report['blessed']}"
    )

    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=args.metric)])],
    )
    start = time.perf_counter()
    shared = tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=config)
    result = tfma.run_model_analysis(
        eval_shared_model=shared,
        eval_config=config,
        data_location=data,
        output_path=os.path.join(tmp, "tfma"),
        pipeline_options=PipelineOptions(args.beam_arg) if args.beam_arg else None,
    )
    stock_s = time.perf_counter() - start
    print(f"stock: {stock_s:8.2f} s  tfma {args.metric}: {result.slicing_metrics[0][1]}")
    print(f"ratio gate/stock = {gate_s / stock_s:.3f}  (target <= 0.5)")


if __name__ == "__main__":
    main()
