"""Compiles `create_pipeline` for Vertex AI Pipelines or a Kubeflow Pipelines v2 cluster.

Offline: KubeflowV2DagRunner writes the pipeline spec, nothing is submitted. Every task runs
`image`, which must have nanguard installed (see the Dockerfile); nanguard's functions are
referenced by dotted path, so no `module_file` wheel is packaged at compile time.
"""

from __future__ import annotations

import json
import os

import yaml
from tfx import v1 as tfx

from nanguard.components.errors import InputError
from nanguard.pipelines import extras
from nanguard.pipelines import pipeline as pipeline_lib

TARGETS = ("vertex", "kubeflow")
# Where the Dockerfile puts the bundled schema inside the image.
IMAGE_SCHEMA = "/nanguard/schemas/penguins.pbtxt"


def compile_pipeline(
    target: str,
    image: str,
    pipeline_root: str,
    data_root: str,
    serving_model_dir: str,
    output: str,
    schema_path: str = IMAGE_SCHEMA,
    pipeline_name: str = "nanguard",
    beam_pipeline_args: list[str] | None = None,
    **pipeline_kwargs,
) -> dict:
    """Writes the compiled spec to `output` and returns it as a dict.

    `vertex` writes the PipelineJob JSON that Vertex AI Pipelines takes; `kubeflow` writes the
    pipeline spec as YAML, the form a KFP v2 cluster uploads.
    """
    if target not in TARGETS:
        raise InputError(f"--target {target!r}: expected one of {TARGETS}")
    extras.require("kfp")  # TFX has KubeflowV2DagRunner only with the Kubeflow Pipelines SDK
    pipeline = pipeline_lib.create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        data_root=data_root,
        schema_path=schema_path,
        serving_model_dir=serving_model_dir,
        beam_pipeline_args=beam_pipeline_args,
        **pipeline_kwargs,
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image)
    )
    job = runner.run(pipeline, write_out=False)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        if target == "vertex":
            json.dump(job, f, indent=2, sort_keys=True)
        else:
            yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
    return job
