"""Runs `create_pipeline` on LocalDagRunner and reads back what happened from ML Metadata."""

from __future__ import annotations

import dataclasses
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2


@dataclasses.dataclass
class Layout:
    """Where one local run keeps its files; all of it lives under `root`."""

    root: str
    serving_dir: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root, "logs")


def build(layout: Layout, **pipeline_kwargs):
    """`create_pipeline` with the local layout's roots and ML Metadata filled in.

    Raises ValueError or TypeError for a bad configuration, before anything runs.
    """
    from nanguard.pipelines import pipeline as pipeline_lib  # loads TensorFlow and Beam

    return pipeline_lib.create_pipeline(
        pipeline_root=layout.pipeline_root,
        serving_model_dir=layout.serving_dir,
        metadata_path=layout.metadata_path,
        **pipeline_kwargs,
    )


def run(pipeline) -> None:
    """Runs a built pipeline on LocalDagRunner; exceptions from a component propagate unchanged."""
    from tfx import v1 as tfx

    tfx.orchestration.LocalDagRunner().run(pipeline)


def _store(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def max_artifact_id(metadata_path: str) -> int:
    """The largest artifact id so far (0 for a new store): artifacts of a later run are above it."""
    if not os.path.exists(metadata_path):
        return 0
    return max((a.id for a in _store(metadata_path).get_artifacts()), default=0)


def artifacts(
    metadata_path: str, type_name: str, after_id: int = 0
) -> list[metadata_store_pb2.Artifact]:
    """Artifacts of `type_name` with an id above `after_id`, newest first."""
    if not os.path.exists(metadata_path):
        return []
    found = _store(metadata_path).get_artifacts_by_type(type_name)
    return sorted((a for a in found if a.id > after_id), key=lambda a: -a.id)


def latest_artifact(
    metadata_path: str, type_name: str, after_id: int = 0
) -> metadata_store_pb2.Artifact | None:
    """The newest artifact of `type_name` with an id above `after_id`, or None."""
    return next(iter(artifacts(metadata_path, type_name, after_id)), None)


def custom_property(artifact: metadata_store_pb2.Artifact | None, name: str):
    """A custom property's value (int, string or float), or None."""
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))
