"""Runs `create_pipeline` on LocalDagRunner and reads back what happened from ML Metadata."""

from __future__ import annotations

import dataclasses
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

# Written into every root nanguard creates; a root without it (and without ML Metadata from an
# earlier run) that already holds files belongs to someone else and is refused.
ROOT_MARKER = ".nanguard-root"


class RootError(ValueError):
    """`--root` is a folder nanguard may not write into; the message says what to pass instead."""


@dataclasses.dataclass
class Layout:
    """Where one local run keeps its files; all of it lives under `root`.

    nanguard writes only into the folders below (each created by nanguard) and never deletes a
    file: staged data goes to a new folder per run.
    """

    root: str
    serving_dir: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def staging_root(self) -> str:
        return os.path.join(self.root, "staging")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root, "logs")

    def claim(self) -> None:
        """Creates `root` with its marker, or checks that an existing `root` is nanguard's own."""
        marker = os.path.join(self.root, ROOT_MARKER)
        if os.path.isdir(self.root) and os.listdir(self.root):
            if not (os.path.exists(marker) or os.path.exists(self.metadata_path)):
                raise RootError(
                    f"--root {self.root}: the folder holds files nanguard did not create; "
                    "pass a new or empty folder (nanguard keeps its runs there)"
                )
        elif os.path.exists(self.root) and not os.path.isdir(self.root):
            raise RootError(f"--root {self.root}: is a file; pass a folder")
        os.makedirs(self.root, exist_ok=True)
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write("This folder holds nanguard runs (pipeline, metadata, staging, logs).\n")

    def new_staging_dir(self, stamp: str) -> str:
        """A folder for this run's staged CSV that did not exist before (never reused)."""
        os.makedirs(self.staging_root, exist_ok=True)
        for attempt in range(100):
            path = os.path.join(self.staging_root, f"{stamp}-{os.getpid()}-{attempt}")
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            return path
        raise RootError(f"{self.staging_root}: no new staging folder could be made")


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
