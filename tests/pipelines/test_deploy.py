"""What can be checked of the container image without a container engine."""

import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def _lock():
    pins = {}
    for line in _read("requirements.lock").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            pins[re.sub(r"\[.*\]", "", match.group(1)).lower()] = match.group(2)
    return pins


def test_lock_pins_the_stack():
    pins = _lock()
    expected = {
        "tfx": "1.16.0",
        "tensorflow": "2.16.2",
        "tf-keras": "2.16.0",
        "tensorflow-data-validation": "1.16.1",
        "tensorflow-transform": "1.16.0",
        "tensorflow-model-analysis": "0.47.1",
        "tfx-bsl": "1.16.1",
        "ml-metadata": "1.16.0",
        "apache-beam": "2.59.0",
        "kfp": "2.5.0",
        "numpy": "1.26.4",
        "protobuf": "3.20.3",
    }
    assert {k: pins.get(k) for k in expected} == expected
    assert int(pins["setuptools"].split(".")[0]) < 70  # pkg_resources is still imported
    assert len(pins) > 200  # a full resolve, not a list of top-level names


def test_dockerfile_installs_the_lock_then_the_package():
    steps = [line for line in _read("Dockerfile").splitlines() if line and not line.startswith("#")]
    text = "\n".join(steps)
    assert steps[0] == "FROM python:3.10-slim-bookworm"  # Python 3.10 on glibc 2.36, as here
    sync = text.index("uv pip sync --system --no-cache --compile-bytecode requirements.lock")
    install = text.index("uv pip install --system --no-cache --no-deps .")
    assert sync < install  # the package never resolves dependencies of its own
    for folder in ("components", "pipelines", "schemas"):
        assert f"COPY {folder} ./{folder}" in text
    assert "import nanguard.components, nanguard.pipelines" in text


def test_image_schema_path_is_where_the_dockerfile_puts_it():
    from nanguard.pipelines import kubeflow_runner

    assert "WORKDIR /nanguard" in _read("Dockerfile")
    assert kubeflow_runner.IMAGE_SCHEMA == "/nanguard/schemas/penguins.pbtxt"
    assert os.path.exists(os.path.join(ROOT, "schemas", "penguins.pbtxt"))
