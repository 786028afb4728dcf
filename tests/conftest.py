"""Shared fixtures. TensorFlow's C++ log is kept quiet for the whole suite."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _temp_under_basetemp(tmp_path_factory):
    """Every temporary folder of the run (the tests' `mkdtemp`, Beam's, TFX's, and those of
    subprocesses through TMPDIR) goes under this run's pytest folder, which pytest prunes to the
    last three runs, instead of staying in /tmp. The xdist workers of one run share it."""
    base = tmp_path_factory.getbasetemp()
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = run / "tmp"
    folder.mkdir(exist_ok=True)
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(folder))
    patch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    patch.undo()


@pytest.fixture
def penguins_csv():
    from nanguard.pipelines import data

    return data.bundled_penguins_csv()


# The guarded pipeline's components, as the tests expect them (not read from the code under test).
GUARDED_COMPONENTS = [
    "CsvExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "DataGuard",
    "Transform",
    "Trainer",
    "Evaluator",
    "FinitePredictionGate",
    "Pusher",
]
