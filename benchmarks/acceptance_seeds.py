"""Acceptance (#12): guarded models trained with different seeds all pass every probe of the
gate on the bundled penguins; a model built to overflow on large inputs fails them.

One `nanguard run` (seed 0) makes the transform and the first model. Seeds 1..N-1 rerun the
guarded trainer's `run_fn` on that run's transformed examples and transform graph with the same
trainer section but the seed. Every model is then checked the way `nanguard check-model` does:
the penguins CSV (its gaps included) through `serving_default`, plus every probe family (NaN,
+-Inf, missing, +-1000x the observed range, +-3.4e38, the smallest subnormal, -0.0, a number
sent as bytes). The overflow model squares `bill_depth_mm` in its serving graph: finite on the
data, +Inf at 3.4e38.

Usage: .venv/bin/python benchmarks/acceptance_seeds.py [--seeds 10] [--root DIR]
(make acceptance)
Writes benchmarks/results/acceptance_seeds.json and prints one line per model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = "species"


def _run_pipeline(root: str) -> None:
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    result = subprocess.run([nanguard, "run", "--root", root], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"nanguard run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _transform_outputs(root: str) -> tuple[str, str]:
    """URIs of the run's transformed examples and transform graph, through ML Metadata."""
    from nanguard.pipelines import mlmd, run_record

    metadata = os.path.join(root, "metadata.sqlite")
    record = run_record.read_run(metadata, mlmd.latest_run(metadata), read=())
    transform = next(v for k, v in record.outputs.items() if k.startswith("Transform"))
    return transform["transformed_examples"][0].uri, transform["transform_graph"][0].uri


def _train(examples_uri: str, graph_uri: str, seed: int, out: str) -> str:
    """The guarded run_fn with `seed`; returns the serving model directory."""
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts

    from nanguard.components.trainer.config import TrainerConfig
    from nanguard.components.trainer.run_fn import run_fn

    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    examples.split_names = '["train", "eval"]'
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    serving = os.path.join(out, f"seed-{seed}", "serving")
    run_fn(
        fn_args_utils.FnArgs(
            train_files=[os.path.join(examples_uri, "Split-train", "*")],
            eval_files=[os.path.join(examples_uri, "Split-eval", "*")],
            train_steps=None,
            eval_steps=None,
            transform_output=graph_uri,
            serving_model_dir=serving,
            model_run_dir=os.path.join(out, f"seed-{seed}", "run"),
            custom_config=TrainerConfig(seed=seed).custom_config(LABEL),
            data_accessor=accessor,
        )
    )
    return serving


def _overflow_model(path: str) -> str:
    """A penguins model whose output is bill_depth_mm squared: finite on the data, not at 3e38."""
    import tensorflow as tf

    class Square(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            spec = {"bill_depth_mm": tf.io.FixedLenFeature([1], tf.float32, default_value=[17.0])}
            x = tf.io.parse_example(examples, spec)["bill_depth_mm"]
            x = tf.where(tf.math.is_finite(x), x, tf.fill(tf.shape(x), 17.0))
            return {"outputs": tf.square(x)}

    module = Square()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--root", help="a nanguard root; one that already ran is reused (default: a new one)"
    )
    args = parser.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="nanguard-seeds-")
    started = time.time()
    if not os.path.exists(os.path.join(root, "metadata.sqlite")):
        _run_pipeline(root)
    from nanguard.components.gate.cli import check_model_on_csv
    from nanguard.pipelines.data import bundled_penguins_csv

    examples_uri, graph_uri = _transform_outputs(root)
    data = bundled_penguins_csv()
    models = {}
    for seed in range(args.seeds):
        models[f"guarded seed {seed}"] = _train(examples_uri, graph_uri, seed, root)
    models["overflow (bill_depth_mm squared)"] = _overflow_model(os.path.join(root, "overflow"))
    results = []
    for name, model_dir in models.items():
        report = check_model_on_csv(model_dir, data, label_key=LABEL)
        results.append(
            {
                "model": name,
                "blessed": report["blessed"],
                "examples": report["examples"],
                "non_finite": report["non_finite"],
                "probes_run": report["probes_run"],
                "probes_failed": report["probes_failed"],
                "probes_rejected": report["probes_rejected"],
            }
        )
        r = results[-1]
        print(
            f"{name:34s} blessed={r['blessed']!s:5s} {r['non_finite']}/{r['examples']} "
            f"non-finite, {r['probes_run']} probes, failed: {r['probes_failed'] or 'none'}"
        )
    guarded = [r for r in results if r["model"].startswith("guarded")]
    verdict = {
        "guarded_all_pass": all(r["blessed"] and not r["probes_failed"] for r in guarded),
        "overflow_fails": not results[-1]["blessed"],
    }
    print(json.dumps(verdict), f"({time.time() - started:.0f} s)")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "acceptance_seeds.json"), "w") as f:
        json.dump({"root": root, "models": results, **verdict}, f, indent=1)
    sys.exit(0 if all(verdict.values()) else 1)


if __name__ == "__main__":
    main()
