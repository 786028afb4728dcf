"""Compiles `create_pipeline` for Vertex AI Pipelines or a Kubeflow Pipelines v2 cluster.

Offline: KubeflowV2DagRunner writes the pipeline spec, nothing is submitted. Every task runs
`image`, which must have nanguard installed (see the Dockerfile); nanguard's functions are
referenced by dotted path, so no `module_file` wheel is packaged at compile time.

Every task's command is nanguard's container entrypoint (`ENTRYPOINT`), TFX's own
`kubeflow_v2_run_executor` with two additions: a guard's block ends the task with exit code 3
and one line naming the guard, and the gate's blessing names the model as the Evaluator's does.
"""

from __future__ import annotations

import inspect
import json
import os

import yaml
from tfx import v1 as tfx

from nanguard.components.errors import InputError
from nanguard.pipelines import extras
from nanguard.pipelines import pipeline as pipeline_lib

TARGETS = ("vertex", "kubeflow")
# The pipeline spec schemas KubeflowV2DagRunner writes: 2.0.0 puts a task's parameters in
# `runtimeValue.constantValue`, 2.1.0 in `runtimeValue.constant` (`use_pipeline_spec_2_1`).
SPEC_VERSIONS = ("2.0", "2.1")
# The current KFP backend's driver resolves only 2.1.0's form; Vertex takes both, and 2.0.0 is
# what TFX's Vertex examples submit.
DEFAULT_SPEC_VERSION = {"vertex": "2.0", "kubeflow": "2.1"}
# Where the Dockerfile puts the bundled schema inside the image.
IMAGE_SCHEMA = "/nanguard/schemas/penguins.pbtxt"
# The command of every compiled task (the executor's class path and `{{$}}` follow as args).
ENTRYPOINT = ("python", "-m", "nanguard.pipelines.entrypoint")


def spec_2_1_supported() -> bool:
    """Whether this TFX's KubeflowV2DagRunner can write the 2.1.0 spec (TFX 1.16; not 1.15)."""
    config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig
    return "use_pipeline_spec_2_1" in inspect.signature(config.__init__).parameters


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
    spec_version: str | None = None,
    **pipeline_kwargs,
) -> dict:
    """Writes the compiled spec to `output` and returns the PipelineJob as a dict.

    `vertex` writes the PipelineJob JSON that Vertex AI Pipelines takes (the root in
    `runtimeConfig.gcsOutputDirectory`); `kubeflow` writes the pipeline spec as YAML, the form a
    KFP v2 cluster uploads, with `pipeline_root` as its `defaultPipelineRoot` (without it a
    cluster puts every artifact under its own default root). `spec_version` is "2.0" or "2.1"
    (None: `DEFAULT_SPEC_VERSION[target]`).
    """
    if target not in TARGETS:
        raise InputError(f"--target {target!r}: expected one of {TARGETS}")
    extras.require("kfp")  # TFX has KubeflowV2DagRunner only with the Kubeflow Pipelines SDK
    asked = spec_version
    spec_version = spec_version or DEFAULT_SPEC_VERSION[target]
    if spec_version not in SPEC_VERSIONS:
        raise InputError(f"--spec-version {spec_version!r}: expected one of {SPEC_VERSIONS}")
    versioned = {}
    if spec_2_1_supported():
        versioned["use_pipeline_spec_2_1"] = spec_version == "2.1"
    elif spec_version == "2.1":
        which = "--spec-version 2.1" if asked else f"--target {target}'s default spec, 2.1,"
        raise InputError(
            f"{which} needs TFX 1.16: TFX {tfx.__version__} writes only the 2.0.0 pipeline "
            "spec; install tfx>=1.16 (nanguard's range goes to 1.16), or pass --spec-version "
            "2.0 for a backend that reads 2.0.0."
        )
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
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, default_commands=list(ENTRYPOINT), **versioned
        )
    )
    job = runner.run(pipeline, write_out=False)
    job["pipelineSpec"]["defaultPipelineRoot"] = pipeline_root
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        if target == "vertex":
            json.dump(job, f, indent=2, sort_keys=True)
        else:
            yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
    return job
