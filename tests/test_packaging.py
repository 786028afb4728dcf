"""The package a registry would take: metadata, ranges that hold the locks, files in the wheel.

Fast: nothing here imports TensorFlow or builds a wheel (`make dist` and `make compat` do that).
"""

from __future__ import annotations

import fnmatch
import os
import re
import resource
import subprocess
import sys
from importlib import metadata

import pytest
import tomli
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from nanguard.components.errors import InputError
from nanguard.pipelines import extras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomli.load(f)["project"]


def _requirements(project, *extra_names):
    reqs = [Requirement(r) for r in project["dependencies"]]
    for name in extra_names:
        reqs += [Requirement(r) for r in project["optional-dependencies"][name]]
    return reqs


def _pins(lock_path):
    """{normalised name: version} of every `name==version` line of a lock."""
    pins = {}
    with open(lock_path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", line)
            if m:
                pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def test_license_is_apache_2(project):
    assert project["license"] == {"text": "Apache-2.0"}
    assert "License :: OSI Approved :: Apache Software License" in project["classifiers"]
    with open(os.path.join(ROOT, "LICENSE")) as f:
        text = f.read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_classifiers_and_python_range_agree(project):
    assert project["requires-python"] == ">=3.10,<3.11"
    pythons = [c for c in project["classifiers"] if re.fullmatch(r".*Python :: 3\.\d+", c)]
    assert pythons == ["Programming Language :: Python :: 3.10"]
    assert project["urls"] and all(u.startswith("https://") for u in project["urls"].values())
    assert project["readme"] == "README.md"


def test_installed_metadata_is_this_pyproject(project):
    meta = metadata.metadata("nanguard")
    assert meta["Version"] == project["version"]
    assert meta["License"] == "Apache-2.0"
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(project["requires-python"])
    assert set(meta.get_all("Provides-Extra")) >= {"kfp", "gcp", "tables"}


def test_every_runtime_requirement_is_a_bounded_range(project):
    for req in _requirements(project, "kfp", "gcp"):
        ops = {s.operator for s in req.specifier}
        assert ops == {">=", "<"}, f"{req}: a range with a floor and a ceiling, not {ops}"


@pytest.mark.parametrize(
    "lock", ["requirements.lock", "compat/tfx-1.15.lock", "compat/tfx-1.16.lock"]
)
def test_locks_fall_inside_the_declared_ranges(project, lock):
    pins = _pins(os.path.join(ROOT, lock))
    for req in _requirements(project, "kfp", "gcp"):
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{lock} does not pin {req.name}"
        assert req.specifier.contains(version), f"{lock}: {req.name}=={version} not in {req}"


def test_compat_lanes_hold_the_two_ends_of_the_tfx_range():
    low = _pins(os.path.join(ROOT, "compat", "tfx-1.15.lock"))
    high = _pins(os.path.join(ROOT, "compat", "tfx-1.16.lock"))
    assert low["tfx"] == "1.15.0" and low["apache-beam"] == "2.53.0"
    assert high["tfx"] == "1.16.0" and high["apache-beam"] == "2.60.0"
    for lane in ("tfx-1.15", "tfx-1.16"):
        with open(os.path.join(ROOT, "compat", f"{lane}.in")) as f:
            assert re.search(r"^# resolution: (lowest-direct|highest)$", f.read(), re.M)


def test_every_data_file_of_the_package_is_package_data():
    """A file the code reads beside its modules must be in the wheel, or an install lacks it."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        setuptools = tomli.load(f)["tool"]["setuptools"]
    missing = []
    for package, folder in setuptools["package-dir"].items():
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, folder)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            sub = os.path.relpath(dirpath, os.path.join(ROOT, folder)).replace(os.sep, ".")
            name = package if sub == "." else f"{package}.{sub}"
            assert name in setuptools["packages"], f"{dirpath}: not a listed package"
            globs = setuptools["package-data"].get(name, [])
            missing += [
                os.path.join(dirpath, f)
                for f in files
                if not f.endswith(".py") and not any(fnmatch.fnmatch(f, g) for g in globs)
            ]
    assert missing == []


def test_version_flag_answers_at_once_without_tensorflow(project):
    script = os.path.join(os.path.dirname(sys.executable), "nanguard")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"nanguard {project['version']}\n",
        "",
    )
    # CPU seconds, not wall time (the machine is shared): importing TensorFlow alone costs ~10.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < 1.5, f"nanguard --version used {cpu:.2f} s of CPU"
    check = (
        "import sys\nfrom nanguard.pipelines import cli\n"
        "try:\n    cli.main(['--version'])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, sorted({'tensorflow', 'apache_beam', 'tfx', 'kfp'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_compile_without_kfp_names_the_extra(monkeypatch):
    extras.require("kfp")  # the lock has the Kubeflow Pipelines SDK
    real = extras._find
    monkeypatch.setattr(extras, "_find", lambda m: None if m == "kfp.pipeline_spec" else real(m))
    with pytest.raises(
        InputError, match=r"Kubeflow Pipelines needs the 'kfp' extra.*pip install 'nanguard\[kfp\]'"
    ):
        extras.require("kfp")
