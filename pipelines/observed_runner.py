"""LocalDagRunner that tells a listener when each component starts and finishes.

TFX's LocalDagRunner offers no hook for this, so this runner implements the same public
`IrBasedRunner` interface with the same loop (components in topological order, one
`Launcher` each) and calls `on_start(node_id)` / `on_finish(node_id, seconds, error)` around
each launch. Partial runs (`run_options`) are not supported: nanguard always runs whole.
`tests/pipelines/test_observed_runner.py` runs one pipeline with both runners and compares what
ML Metadata records.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from absl import logging
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils, tfx_runner
from tfx.proto.orchestration import pipeline_pb2


class ObservedLocalDagRunner(tfx_runner.IrBasedRunner):
    """Runs a pipeline in this process, like LocalDagRunner, reporting each component."""

    def __init__(
        self,
        on_start: Callable[[str], None] | None = None,
        on_finish: Callable[[str, float, BaseException | None], None] | None = None,
    ):
        self._on_start = on_start or (lambda node_id: None)
        self._on_finish = on_finish or (lambda node_id, seconds, error: None)
        self.run_id = ""

    def run_with_ir(
        self, pipeline: pipeline_pb2.Pipeline, run_options: pipeline_pb2.RunOptions | None = None
    ) -> None:
        if run_options is not None:
            raise ValueError("ObservedLocalDagRunner runs whole pipelines; run_options not taken")
        self.run_id = datetime.datetime.now().isoformat()
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id}
        )
        deployment_config = runner_utils.extract_local_deployment_config(pipeline)
        connection_config = getattr(
            deployment_config.metadata_connection_config,
            deployment_config.metadata_connection_config.WhichOneof("connection_config"),
        )
        for node in pipeline.nodes:  # topological order
            pipeline_node = node.pipeline_node
            node_id = pipeline_node.node_info.id
            if pipeline_node.execution_options.HasField("skip"):  # as LocalDagRunner does
                logging.info("Skipping component %s.", node_id)
                continue
            component_launcher = launcher.Launcher(
                pipeline_node=pipeline_node,
                mlmd_connection=metadata.Metadata(connection_config),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(
                    deployment_config, node_id
                ),
            )
            logging.info("Component %s is running.", node_id)
            self._on_start(node_id)
            start = time.monotonic()
            try:
                component_launcher.launch()
            except BaseException as e:
                self._on_finish(node_id, time.monotonic() - start, e)
                raise
            self._on_finish(node_id, time.monotonic() - start, None)
            logging.info("Component %s is finished.", node_id)
