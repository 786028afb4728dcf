"""executor.py: the blessing the stock Pusher honours, and Beam results through the pipeline's
storage (never a launcher-local temporary folder)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.gate import executor as gate_executor
from nanguard.components.gate import spec as keys
from nanguard.components.gate import testing
from nanguard.components.gate.config import GateConfig
from nanguard.components.probes import PROBE_FAMILIES

N = 600
MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


@pytest.fixture(scope="module")
def data():
    return testing.eval_rows(N)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    out = {}
    for kind in ("healthy", "log"):
        # TFX Model artifact layout: <uri>/Format-Serving/saved_model.pb
        uri = str(root / kind)
        testing.save_model(os.path.join(uri, "Format-Serving"), kind)
        out[kind] = uri
    return out


@pytest.fixture(scope="module")
def examples_artifact(tmp_path_factory, data):
    uri = str(tmp_path_factory.mktemp("examples"))
    testing.write_tfrecord(
        os.path.join(uri, "Split-eval", "data_tfrecord-00000-of-00002.gz"),
        data["records"][: N // 2],
    )
    testing.write_tfrecord(
        os.path.join(uri, "Split-eval", "data_tfrecord-00001-of-00002.gz"),
        data["records"][N // 2 :],
    )
    testing.write_tfrecord(
        os.path.join(uri, "Split-train", "data_tfrecord-00000-of-00001.gz"), data["records"][:100]
    )
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return artifact


def _model_artifact(uri: str, artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = uri
    model.id = artifact_id
    return model


def _run_gate(
    tmp_path,
    model,
    examples,
    with_schema=True,
    upstream=None,
    beam_args=(),
    during=None,
    evaluation_uri=None,
    **params,
):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri, exist_ok=True)
    inputs = {keys.MODEL_KEY: [model], keys.EXAMPLES_KEY: [examples]}
    if with_schema:
        schema = standard_artifacts.Schema()
        schema.uri = str(tmp_path / "schema")
        io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), testing.raw_schema())
        inputs[keys.SCHEMA_KEY] = [schema]
    if upstream is not None:
        up = standard_artifacts.ModelBlessing()
        up.set_int_custom_property("blessed", upstream)
        inputs[keys.MODEL_BLESSING_KEY] = [up]
    if evaluation_uri is not None:
        evaluated = standard_artifacts.ModelEvaluation()
        evaluated.uri = evaluation_uri
        inputs[keys.EVALUATION_KEY] = [evaluated]
    task = params.pop("task", "")
    settings = {"splits": ["eval"], "batch_size": 128, "probe_families": list(PROBE_FAMILIES),
                "max_offending": 5, **params}  # fmt: skip
    props = keys.to_parameters(GateConfig.from_dict(settings), "label", task)
    launcher_tmp = tmp_path / "launcher_tmp"
    launcher_tmp.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        # With Beam args TFX packages itself into a temp folder it never removes: keep it here.
        mp.setattr(tempfile, "tempdir", str(launcher_tmp))
        executor = gate_executor.Executor(
            gate_executor.Executor.Context(beam_pipeline_args=list(beam_args))
        )
    with during or contextlib.nullcontext():
        executor.Do(inputs, {keys.BLESSING_KEY: [blessing]}, props)
    return blessing


def _push(tmp_path, model, blessing, serving_dir):
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)
    )
    pusher_executor.Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": json_format.MessageToJson(destination)},
    )
    return pushed


def _strict_json(path):
    def refuse(token):
        raise AssertionError(f"bare {token} in {path}")

    with open(path) as f:
        return json.loads(f.read(), parse_constant=refuse)


def test_healthy_model_blessed_and_pushed(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 11)
    blessing = _run_gate(tmp_path, model, examples_artifact)
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_string_custom_property("current_model") == models["healthy"]
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_int_custom_property("examples") == N
    assert blessing.get_string_custom_property("blessing_message") == "all predictions finite"
    assert sorted(os.listdir(blessing.uri)) == ["BLESSED", "gate_report.json"]
    assert os.path.getsize(os.path.join(blessing.uri, "BLESSED")) == 0
    report = _strict_json(os.path.join(blessing.uri, "gate_report.json"))
    assert (report["examples"], report["non_finite"], report["probes_failed"]) == (N, 0, [])
    assert report["outputs"]["outputs"]["total"] == 3 * N
    # base + 11 for x (float) + 6 for n (int) + 1 for color + all_missing
    assert report["probes_run"] == 20
    assert report["probes_rejected"] == ["as_bytes:x", "as_bytes:n"]
    assert report["probe_failures"] == [] and report["reasons"] == []

    serving = str(tmp_path / "serving")
    pushed = _push(tmp_path, model, blessing, serving)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = os.listdir(serving)
    assert tf.saved_model.contains_saved_model(os.path.join(serving, version))


def test_nan_model_not_blessed_and_pusher_leaves_serving_untouched(
    tmp_path, models, data, examples_artifact
):
    serving = str(tmp_path / "serving")
    good = _model_artifact(models["healthy"], 1)
    _push(tmp_path / "first", good, _run_gate(tmp_path / "g1", good, examples_artifact), serving)
    before = {
        os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
        for d, _, files in os.walk(serving)
        for f in files
    }
    assert before

    bad = _model_artifact(models["log"], 2)
    blessing = _run_gate(tmp_path / "g2", bad, examples_artifact)
    out_ref, scale_ref = testing.log_reference(data)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("current_model_id") == 2
    assert blessing.get_int_custom_property("nan") == int(np.isnan(out_ref).sum())
    assert blessing.get_int_custom_property("neg_inf") == int(np.isneginf(out_ref).sum())
    assert blessing.get_int_custom_property("pos_inf") == int(np.isposinf(scale_ref).sum())
    bad_rows = ~np.isfinite(out_ref) | ~np.isfinite(scale_ref)
    assert blessing.get_int_custom_property("non_finite") == int(bad_rows.sum())
    assert sorted(os.listdir(blessing.uri)) == ["NOT_BLESSED", "gate_report.json"]
    report = _strict_json(os.path.join(blessing.uri, "gate_report.json"))
    assert len(report["offending_examples"]) == 5
    spelled = {v for ex in report["offending_examples"] for vs in ex["outputs"].values()
               for v in vs if isinstance(v, str)}  # fmt: skip
    assert spelled and spelled <= {"NaN", "Infinity", "-Infinity"}
    # log(x - 1) with the all-missing probe (x defaults to 0) is NaN: that probe fails too.
    assert "all_missing" in report["probes_failed"]
    failure = report["probe_failures"][report["probes_failed"].index("all_missing")]
    assert failure["status"] == "non_finite" and failure["request"] == {}
    assert failure["outputs"]["outputs"] == ["NaN"]
    nan_x = report["probe_failures"][report["probes_failed"].index("nan:x")]
    assert nan_x["request"]["x"] == ["NaN"]

    pushed = _push(tmp_path / "second", bad, blessing, serving)
    assert pushed.get_int_custom_property("pushed") == 0
    after = {
        os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
        for d, _, files in os.walk(serving)
        for f in files
    }
    assert after == before
    (version,) = os.listdir(serving)
    loaded = tf.saved_model.load(os.path.join(serving, version))
    probs = loaded.signatures["serving_default"](examples=tf.constant(data["records"][:4]))
    assert np.allclose(probs["outputs"].numpy().sum(axis=1), 1.0)


def test_upstream_blessing_and_raise_on_block(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 3)
    blessing = _run_gate(tmp_path / "a", model, examples_artifact, upstream=0)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("blessing_message") == (
        "the upstream model_blessing is not blessed"
    )
    blessing = _run_gate(tmp_path / "b", model, examples_artifact, upstream=1)
    assert blessing.get_int_custom_property("blessed") == 1

    bad = _model_artifact(models["log"], 4)
    with pytest.raises(GuardBlockedError, match=r"outputs.*scale|scale.*outputs"):
        _run_gate(tmp_path / "c", bad, examples_artifact, raise_on_block=True)
    assert sorted(os.listdir(tmp_path / "c" / "blessing")) == ["NOT_BLESSED", "gate_report.json"]


def test_bad_split_is_named(tmp_path, models, examples_artifact):
    model = _model_artifact(models["healthy"], 5)
    with pytest.raises(InputError, match=r"Split 'test' not found .*\['train', 'eval'\]"):
        _run_gate(tmp_path, model, examples_artifact, splits=["test"])


@contextlib.contextmanager
def unusable_local_tmp(tmp_path):
    """TMPDIR (and tempfile's directory) where nothing can be created: a path under a file.

    Root ignores read-only permissions, so "unwritable" is a path below a regular file. Beam's
    own launcher bookkeeping folder (``beam-pipeline-temp``, which every Beam pipeline makes and
    removes) is let through to a folder of its own; anything else, such as the old
    ``nanguard_gate_*`` counts folder, fails as it would on a launcher without a usable disk.
    """
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    unusable = str(blocker / "tmp")
    beam_own = tmp_path / "beam_own"
    beam_own.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(suffix=None, prefix=None, dir=None):  # noqa: A002 (tempfile's signature)
        if prefix == "beam-pipeline-temp" and dir is None:
            return real_mkdtemp(suffix, prefix, str(beam_own))
        return real_mkdtemp(suffix, prefix, dir)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", unusable)
        mp.setattr(tempfile, "tempdir", unusable)
        mp.setattr(tempfile, "mkdtemp", mkdtemp)
        with pytest.raises(NotADirectoryError):
            tempfile.mkdtemp(prefix="nanguard_gate_")  # what the gate used to do
        yield
    assert os.listdir(beam_own) == []


@pytest.mark.parametrize("kind", ["log", "healthy"])
def test_multi_process_beam_with_unusable_local_tmp(
    tmp_path, models, data, examples_artifact, kind
):
    blessing = _run_gate(
        tmp_path,
        _model_artifact(models[kind], 6),
        examples_artifact,
        beam_args=MULTI_PROCESS,
        during=unusable_local_tmp(tmp_path),
        probe_families=[],
    )
    report = _strict_json(os.path.join(blessing.uri, "gate_report.json"))
    assert report["examples"] == N
    if kind == "log":
        out_ref, scale_ref = testing.log_reference(data)
        assert report["outputs"]["outputs"]["nan"] == int(np.isnan(out_ref).sum())
        assert report["outputs"]["outputs"]["neg_inf"] == int(np.isneginf(out_ref).sum())
        assert report["outputs"]["scale"]["pos_inf"] == int(np.isposinf(scale_ref).sum())
        assert report["non_finite"] == int((~np.isfinite(out_ref) | ~np.isfinite(scale_ref)).sum())
        assert blessing.get_int_custom_property("blessed") == 0
        assert sorted(os.listdir(blessing.uri)) == ["NOT_BLESSED", "gate_report.json"]
    else:
        assert report["non_finite"] == 0 and report["outputs"]["outputs"]["total"] == 3 * N
        assert blessing.get_int_custom_property("blessed") == 1
        assert sorted(os.listdir(blessing.uri)) == ["BLESSED", "gate_report.json"]
