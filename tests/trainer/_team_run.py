"""Runs the TFX examples' own `run_fn`s, stock and with the guard's lines, in a fresh process.

`python -m tests.trainer._team_run WORKDIR TFX_GIT_DIR` writes WORKDIR/results.json. The example
modules are read from a fetched TFX v1.16.0 checkout (never from this repository); their modules
say `tf.keras`, which is tf_keras only with TF_USE_LEGACY_KERAS=1, hence a process of their own.
The fault is the harness's, not the module's: every `Adam` gets a divergent learning rate
(`DIVERGENT_LR`), in the stock twin and in the guarded run alike, with the same seed and data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"

TAG = "v1.16.0"
# A git dir holding TAG: the fetch tool's mirror of github:tensorflow/tfx, or NANGUARD_TFX_GIT.
GIT_DIR = os.environ.get("NANGUARD_TFX_GIT", "/work/.mirror/tensorflow+tfx/repo")
DIVERGENT_LR = 1e30
EXAMPLES = {
    "penguin": "tfx/examples/penguin/penguin_utils_keras.py",
    "taxi": "tfx/examples/chicago_taxi_pipeline/taxi_utils_native_keras.py",
}
# The guard's lines, the same two for both modules: (the line they go before, the line).
EDITS = [
    ("import tensorflow as tf", "from nanguard.components import guard  # + nanguard"),
    (
        "  # Write logs to path",
        "  model = guard(model, report_dir=fn_args.model_run_dir)  # + nanguard",
    ),
]


def git_show(git_dir: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{TAG}:{path}"], check=True, capture_output=True
    ).stdout


def guarded_source(stock: str) -> str:
    """`stock` with the guard's lines, each before the first line that is its anchor."""
    lines = stock.splitlines()
    for anchor, new in EDITS:
        hits = [i for i, line in enumerate(lines) if line == anchor]
        assert len(hits) == 1, (anchor, hits)
        lines.insert(hits[0], new)
    return "\n".join(lines) + "\n"


def _load(path: str, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _divergent_adam():
    import tf_keras

    original = tf_keras.optimizers.Adam.__init__

    def init(self, learning_rate=0.001, *args, **kwargs):
        original(self, DIVERGENT_LR, *args, **kwargs)

    tf_keras.optimizers.Adam.__init__ = init


def _copy_tree(git_dir: str, prefix: str, into: str) -> None:
    files = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", TAG, prefix],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for path in files:
        target = os.path.join(into, os.path.relpath(path, prefix))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(git_show(git_dir, path))


def _penguin_transform(git_dir: str, root: str, preprocessing_fn) -> dict:
    """The penguin example's transform over TFX's penguin testdata (tf.Examples), with tft_beam."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    raw = os.path.join(root, "raw")
    _copy_tree(git_dir, "tfx/components/testdata/penguin/data", raw)
    spec = {
        k: tf.io.FixedLenFeature([], tf.float32)
        for k in ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")
    }
    spec["species"] = tf.io.FixedLenFeature([], tf.int64)
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(spec)

    def rows(split):
        files = tf.io.gfile.glob(os.path.join(raw, f"Split-{split}", "*"))
        records = tf.data.TFRecordDataset(files, compression_type="GZIP")
        return [
            {k: v.numpy() for k, v in tf.io.parse_single_example(r, spec).items()} for r in records
        ]

    out = os.path.join(root, "transformed")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=os.path.join(root, "tmp")):
        train = pipeline | "train" >> beam.Create(rows("train"))
        evaluation = pipeline | "eval" >> beam.Create(rows("eval"))
        (data, meta), fn = (train, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
        (eval_data, _) = ((evaluation, metadata), fn) | tft_beam.TransformDataset()
        coder = tft.coders.ExampleProtoCoder(meta.schema)
        for split, part in (("train", data), ("eval", eval_data)):
            _ = (
                part
                | f"enc{split}" >> beam.Map(coder.encode)
                | f"w{split}"
                >> beam.io.WriteToTFRecord(
                    os.path.join(out, f"Split-{split}", "data"), file_name_suffix=".gz"
                )
            )
        _ = fn | tft_beam.WriteTransformFn(os.path.join(root, "transform"))
    metadata_io.write_metadata(
        metadata, os.path.join(root, "transform", tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return {"examples": out, "transform": os.path.join(root, "transform")}


def _taxi_data(git_dir: str, root: str) -> dict:
    """TFX's own taxi testdata: the transform graph and transformed examples of the taxi module."""
    base = "tfx/components/testdata/transform"
    _copy_tree(git_dir, f"{base}/transform_graph", os.path.join(root, "transform"))
    _copy_tree(git_dir, f"{base}/transformed_examples", os.path.join(root, "transformed"))
    return {
        "examples": os.path.join(root, "transformed"),
        "transform": os.path.join(root, "transform"),
    }


def _fn_args(data: dict, out: str, train_steps: int):
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = data["examples"]
    examples.split_names = '["train", "eval"]'
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    return fn_args_utils.FnArgs(
        train_files=[os.path.join(data["examples"], "Split-train", "*")],
        eval_files=[os.path.join(data["examples"], "Split-eval", "*")],
        train_steps=train_steps,
        eval_steps=3,
        transform_output=data["transform"],
        transform_graph_path=data["transform"],
        serving_model_dir=os.path.join(out, "serving"),
        model_run_dir=os.path.join(out, "run"),
        hyperparameters=None,
        custom_config={},
        data_accessor=accessor,
    )


def exported_weights(serving_dir: str) -> dict | None:
    """`{"nonfinite": n, "tensors": m}` over the SavedModel's float variables; None if none."""
    import numpy as np
    import tensorflow as tf

    prefix = os.path.join(serving_dir, "variables", "variables")
    if not tf.io.gfile.exists(prefix + ".index"):
        return None
    reader = tf.train.load_checkpoint(prefix)
    bad = tensors = 0
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            tensors += 1
            bad += int(not np.isfinite(value).all())
    return {"nonfinite": bad, "tensors": tensors}


def run_example(name: str, git_dir: str, workdir: str) -> dict:
    import tf_keras

    root = os.path.join(workdir, name)
    os.makedirs(root, exist_ok=True)
    stock = git_show(git_dir, EXAMPLES[name]).decode()
    results = {}
    data = None
    for variant, source in (("stock", stock), ("guarded", guarded_source(stock))):
        path = os.path.join(root, f"{name}_{variant}.py")
        with open(path, "w") as handle:
            handle.write(source)
        module = _load(path, f"{name}_{variant}")
        if data is None:
            data = (
                _penguin_transform(git_dir, root, module.preprocessing_fn)
                if name == "penguin"
                else _taxi_data(git_dir, root)
            )
        out = os.path.join(root, variant)
        fn_args = _fn_args(data, out, train_steps=30)
        tf_keras.utils.set_random_seed(0)
        result = {"error": None}
        try:
            module.run_fn(fn_args)
        except Exception as err:  # noqa: BLE001 - recorded for the test to judge
            result["error"] = f"{type(err).__name__}: {err}"[:500]
        result["exported"] = exported_weights(fn_args.serving_model_dir)
        report_path = os.path.join(fn_args.model_run_dir, "nanguard_training_health.json")
        result["report"] = None
        if os.path.exists(report_path):
            with open(report_path) as handle:
                result["report"] = json.load(handle)
        results[variant] = result
    return results


def main(workdir: str, git_dir: str) -> None:
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    _divergent_adam()
    results = {name: run_example(name, git_dir, workdir) for name in EXAMPLES}
    with open(os.path.join(workdir, "results.json"), "w") as handle:
        json.dump(results, handle, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
