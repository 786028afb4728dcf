"""Shared fixtures. TensorFlow's C++ log is kept quiet for the whole suite."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


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
