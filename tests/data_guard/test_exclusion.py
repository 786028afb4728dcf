"""exclusion.py and its use in create_pipeline: features the model leaves out are left out of
the guard's verdict; under all_missing: exclude an empty column is left out of both."""

from __future__ import annotations

import json

from nanguard.components.data_guard import exclusion
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.pipelines import pipeline as pipeline_lib
from nanguard.pipelines.config import PipelineConfig


def _csv(folder, text: str) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "data.csv").write_text(text)
    return str(folder)


def test_empty_columns_reads_missing_spellings_and_skips_remote_paths(tmp_path):
    data = _csv(tmp_path / "d", "a,b,c,y\n1,,NA,x\n2,,-999,\n3,,?,z\n")
    assert exclusion.empty_columns(data, DataGuardConfig()) == ["b"]
    spelled = DataGuardConfig(missing_tokens=("-999",))
    assert exclusion.empty_columns(data, spelled) == ["b", "c"]
    assert exclusion.empty_columns("gs://bucket/data", DataGuardConfig()) == []
    assert exclusion.empty_columns(str(tmp_path / "absent"), DataGuardConfig()) == []


def test_for_pipeline_adds_transform_exclude_and_empty_columns_never_the_label(tmp_path):
    data = _csv(tmp_path / "d", "a,b,y\n1,,\n2,,\n")
    guard, left_out = exclusion.for_pipeline(DataGuardConfig(), ["a"], data, "y")
    assert (guard.exclude, left_out) == (("a",), ["a"])  # all_missing: block: only the list
    exclude = DataGuardConfig(all_missing="exclude")
    guard, left_out = exclusion.for_pipeline(exclude, ["a"], data, "y")
    assert (guard.exclude, left_out) == (("a", "b"), ["a", "b"])


def _build(tmp_path, config: dict):
    data = _csv(tmp_path / "data", "species,x,empty\nAdelie,1.5,\nGentoo,2.5,\nAdelie,,\n")
    p = pipeline_lib.create_pipeline(
        pipeline_name="t",
        pipeline_root=str(tmp_path / "root"),
        data_root=data,
        schema_path=None,
        serving_model_dir=str(tmp_path / "serving"),
        config=PipelineConfig.from_dict({"label": "species", **config}),
    )
    components = {c.id: c for c in p.components}
    guard = json.loads(components["DataGuard"].exec_properties["config"])
    transform = json.loads(components["Transform"].exec_properties["custom_config"])
    return guard, transform


def test_create_pipeline_passes_the_excluded_features_to_guard_and_transform(tmp_path):
    guard, transform = _build(tmp_path, {"transform": {"exclude": ["x"]}})
    assert guard["exclude"] == ["x"] and transform["exclude"] == ["x"]
    guard, transform = _build(tmp_path, {"data_guard": {"all_missing": "exclude"}})
    assert guard["exclude"] == ["empty"] and transform["exclude"] == ["empty"]
    guard, transform = _build(tmp_path, {})
    assert guard["exclude"] == [] and transform["exclude"] == []
