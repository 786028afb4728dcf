"""`create_pipeline`: the one place where nanguard's pipeline is wired, from CSV to pushed model.

Guarded (the default):

    CsvExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator
                  -> DataGuard            (counts NaN/Inf/missing; fails the run per policy)
                  -> Transform            (nanguard's: imputes and scales, outputs always finite)
                  -> Trainer              (nanguard's run_fn: guarded steps, checked export)
                  -> Evaluator            (stock: the task's quality metric and threshold,
                                           plus a non-finite prediction count)
                  -> FinitePredictionGate (eval data + hostile probes -> ModelBlessing; names
                                           the Evaluator's failed thresholds)
                  -> Pusher               (stock; pushes only what the gate blessed)

The task (classification or regression) is decided before anything is built
(`PipelineConfig.with_task`, rule in `components/task.py`) and reaches the transform's label
encoding, the Evaluator's metrics, the gate's report and the run summary.

Baseline (`baseline=True`): the same stock components with the TFX penguin example's
preprocessing and model and no guard; the reference for every benchmark.

Every environment-specific value (data, roots, serving directory, Beam arguments) is an argument;
the runners (`nanguard run`, `nanguard compile`) only fill them in. Library code is referenced by
dotted path, never by `module_file`, so the same pipeline runs from an installed package locally
and in a container image on Kubeflow or Vertex.
"""

from __future__ import annotations

from tfx import v1 as tfx

from nanguard.components import task as task_lib
from nanguard.components.data_guard import DataGuard
from nanguard.components.data_guard import exclusion as guard_exclusion
from nanguard.components.data_guard.harden_component import HardenSchema
from nanguard.components.gate import FinitePredictionGate
from nanguard.components.gate.eval_config import eval_config
from nanguard.components.served_flags import REPAIR_SIGNATURE
from nanguard.components.transform.component import Transform as NanguardTransform
from nanguard.pipelines.config import PipelineConfig

STOCK_PREPROCESSING_FN = "nanguard.pipelines.stock.preprocessing_fn"
STOCK_RUN_FN = "nanguard.pipelines.stock.run_fn"
GUARDED_RUN_FN = "nanguard.components.trainer.run_fn.run_fn"


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_path: str | None,
    serving_model_dir: str,
    config: PipelineConfig | None = None,
    metadata_path: str | None = None,
    beam_pipeline_args: list[str] | None = None,
    baseline: bool = False,
    drift_baseline_uri: str | None = None,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline.

    Args:
      pipeline_name: `[a-z0-9][a-z0-9-]*` (Kubeflow's rule).
      pipeline_root: where artifacts go (a local folder or a gs:// URI).
      data_root: a folder of CSV files with a shared header, missing values as empty cells.
      schema_path: a schema .pbtxt, imported with ImportSchemaGen; None infers one with
        SchemaGen and hardens it (HardenSchema).
      serving_model_dir: the Pusher's filesystem destination.
      config: the label, the task and every component's section (`PipelineConfig`, already
        validated); None: the defaults. A `task: auto` is decided here
        (`PipelineConfig.with_task` on `data_root` if local, else on the schema's label type;
        InputError naming `task` when neither can tell); `nanguard run` decides it earlier, on
        the table it stages.
      metadata_path: SQLite file for ML Metadata (local runs); None leaves it to the runner.
      beam_pipeline_args: passed to every Beam-based component.
      baseline: the stock TFX variant (penguin-example preprocessing and model, no guards).
      drift_baseline_uri: the URI of an earlier run's DataGuard output (ExampleAnomalies), e.g.
        the last pushed run's (`nanguard run` finds it in ML Metadata): imported, and every
        split's missing/NaN/Inf rates are compared with it (`data_guard.skew` tolerance).
    """
    config = config or PipelineConfig()
    if config.task == task_lib.AUTO:
        config = config.with_task(schema_path=schema_path, data=data_root)
    label, task = config.label, config.task
    # The task rides with the label, the same way to every component: the transform's label
    # encoding follows it (a numeric label under classification becomes a class index).
    transform_config = config.transform.custom_config(label, task)
    example_gen = tfx.components.CsvExampleGen(input_base=data_root)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    if schema_path:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
        schema = schema_gen.outputs["schema"]
        schema_components = [schema_gen]
    else:
        # No curated schema: infer one, then harden it (SchemaGen never disallows NaN or Inf).
        inferred = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
        hardened = HardenSchema(schema=inferred.outputs["schema"], label_key=label)
        schema = hardened.outputs["hardened_schema"]
        schema_components = [inferred, hardened]
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    components = [example_gen, statistics_gen, *schema_components, example_validator]
    # A team may bring its own functions and keep every guard around them.
    preprocessing_fn = config.transform.preprocessing_fn
    if baseline:
        transform = tfx.components.Transform(
            examples=example_gen.outputs["examples"],
            schema=schema,
            preprocessing_fn=preprocessing_fn or STOCK_PREPROCESSING_FN,
            custom_config=transform_config,
        )
    else:
        drift_baseline = None
        if drift_baseline_uri:
            # The earlier run's data guard output, imported as an artifact (works the same on
            # LocalDagRunner, Kubeflow and Vertex): the guard compares rates with it.
            importer = tfx.dsl.Importer(
                source_uri=drift_baseline_uri,
                artifact_type=tfx.types.standard_artifacts.ExampleAnomalies,
            ).with_id("DriftBaselineImporter")
            components.append(importer)
            drift_baseline = importer.outputs["result"]
        # Features the model leaves out are left out of the guard's verdict (and, under
        # data_guard.all_missing: exclude, columns with no value at all out of the model).
        guard_config, left_out = guard_exclusion.for_pipeline(
            config.data_guard, config.transform.exclude, data_root, label
        )
        if left_out and not preprocessing_fn:
            transform_config["exclude"] = left_out
        data_guard = DataGuard(
            examples=example_gen.outputs["examples"],
            schema=schema,
            label_key=label,
            config=guard_config,
            baseline=drift_baseline,
        )
        transform = NanguardTransform(
            examples=example_gen.outputs["examples"],
            schema=schema,
            custom_config=transform_config,
            **({"preprocessing_fn": preprocessing_fn} if preprocessing_fn else {}),
        )
        # Transform reads the examples, not the guard's verdict: this edge makes it wait for the
        # guard (and not run at all when the guard fails the run), on every orchestrator.
        transform.add_upstream_node(data_guard)
        components.append(data_guard)
    components.append(transform)

    trainer = tfx.components.Trainer(
        run_fn=config.trainer.run_fn or (STOCK_RUN_FN if baseline else GUARDED_RUN_FN),
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=tfx.proto.TrainArgs(num_steps=config.trainer.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.trainer.eval_steps),
        custom_config=config.trainer.custom_config(label, task),
    )
    rejecting = not baseline and config.trainer.nonfinite_input == "reject"
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        # The stock preprocessing_fn makes every label a class index: the baseline is scored
        # as a classifier whatever the task.
        eval_config=eval_config(
            label,
            not baseline,
            task_lib.CLASSIFICATION if baseline else task,
            config.evaluator,
            # Under `reject`, serving_default refuses an evaluation row holding NaN or Inf.
            REPAIR_SIGNATURE if rejecting else "serving_default",
        ),
    )
    components += [trainer, evaluator]
    blessing = evaluator.outputs["blessing"]
    if not baseline:
        gate = FinitePredictionGate(
            model=trainer.outputs["model"],
            examples=example_gen.outputs["examples"],
            schema=schema,
            statistics=statistics_gen.outputs["statistics"],
            model_blessing=blessing,
            evaluation=evaluator.outputs["evaluation"],
            label_key=label,
            task=task,
            config=config.gate,
        )
        components.append(gate)
        blessing = gate.outputs["blessing"]
    components.append(
        tfx.components.Pusher(
            model=trainer.outputs["model"],
            model_blessing=blessing,
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
            ),
        )
    )
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
