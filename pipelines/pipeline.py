"""`create_pipeline`: the one place where nanguard's pipeline is wired, from CSV to pushed model.

    CsvExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator
                  -> Transform -> Trainer -> Evaluator -> Pusher

Every environment-specific value (data, roots, serving directory, Beam arguments) is an argument;
the runners (`nanguard run`, `nanguard compile`) only fill them in. Library code is referenced by
dotted path, never by `module_file`, so the same pipeline runs from an installed package locally
and in a container image on Kubeflow or Vertex.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

STOCK_PREPROCESSING_FN = "nanguard.pipelines.stock.preprocessing_fn"
STOCK_RUN_FN = "nanguard.pipelines.stock.run_fn"


def eval_config(label_key: str, min_accuracy: float = 0.5) -> tfma.EvalConfig:
    """The Evaluator's config: accuracy on the transformed label, over the serving contract."""
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=label_key,
                prediction_key="outputs",
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(
                                lower_bound={"value": min_accuracy}
                            )
                        ),
                    ),
                ]
            )
        ],
    )


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_path: str,
    serving_model_dir: str,
    label_key: str = "species",
    metadata_path: str | None = None,
    beam_pipeline_args: list[str] | None = None,
    baseline: bool = False,
    config: dict[str, Any] | None = None,
    train_steps: int = 200,
    eval_steps: int = 20,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline.

    Args:
      pipeline_name: `[a-z0-9][a-z0-9-]*` (Kubeflow's rule).
      pipeline_root: where artifacts go (a local folder or a gs:// URI).
      data_root: a folder of CSV files with a shared header, missing values as empty cells.
      schema_path: a schema .pbtxt, imported with ImportSchemaGen.
      serving_model_dir: the Pusher's filesystem destination.
      label_key: the label column.
      metadata_path: SQLite file for ML Metadata (local runs); None leaves it to the runner.
      beam_pipeline_args: passed to every Beam-based component.
      baseline: the stock TFX variant (penguin-example preprocessing and model, no guards).
      config: the `nanguard run --config` YAML as a dict (sections `transform`, `trainer`).
      train_steps, eval_steps: Trainer steps.
    """
    config = config or {}
    example_gen = tfx.components.CsvExampleGen(input_base=data_root)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=STOCK_PREPROCESSING_FN,
        custom_config={"label_key": label_key, **config.get("transform", {})},
    )
    trainer = tfx.components.Trainer(
        run_fn=STOCK_RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
        custom_config={"label_key": label_key, **config.get("trainer", {})},
    )
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=eval_config(label_key),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )
    components = [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        trainer,
        evaluator,
        pusher,
    ]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
            if metadata_path
            else None
        ),
        beam_pipeline_args=beam_pipeline_args or [],
        enable_cache=False,
    )
