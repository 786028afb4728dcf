"""Transform executor that also writes nanguard's transform record next to the graph."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils, standard_component_specs

from nanguard.components import transform_record as record


class Executor(transform_executor.Executor):
    """The stock Transform executor, plus `<transform_graph>/nanguard_transform_record.json`."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        graph_artifacts = output_dict.get(standard_component_specs.TRANSFORM_GRAPH_KEY)
        if not graph_artifacts:
            return
        uri = artifact_utils.get_single_uri(graph_artifacts)
        path = record.write_transform_record(uri)
        logging.info("nanguard transform record: %s", path)
