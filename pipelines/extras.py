"""The optional parts of nanguard (pyproject.toml's extras) and the error when one is missing.

A base install (`pip install nanguard`) runs pipelines locally; what only some teams need is an
extra that the code imports only on the path that uses it.
"""

from __future__ import annotations

import importlib.util

from nanguard.components.errors import InputError

# extra -> (the module it brings that nanguard needs, what needs it). TFX imports
# kfp.pipeline_spec (from kfp-pipeline-spec, which tfx[kfp] brings) for KubeflowV2DagRunner.
EXTRAS = {
    "kfp": (
        "kfp.pipeline_spec",
        "compiling for Vertex AI or Kubeflow Pipelines",
    ),
}


def require(extra: str) -> None:
    """Returns when `extra`'s module can be imported; else InputError naming the extra.

    Raises:
        InputError: the module is missing; the message says which pip command installs it.
    """
    module, purpose = EXTRAS[extra]
    if _find(module) is None:
        raise InputError(
            f"{purpose} needs the {extra!r} extra, which this environment lacks "
            f"(no module {module!r}): pip install 'nanguard[{extra}]'"
        )


def _find(module: str):
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a missing parent package of a dotted name
        return None
