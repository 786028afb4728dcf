"""`local_runner.scratch_dir`: a run's temporary files, under the root and gone afterwards."""

import logging
import os
import subprocess
import sys
import tempfile

import pytest

from nanguard.pipelines import local_runner


def _layout(tmp_path):
    return local_runner.Layout(root=str(tmp_path / "root"), serving_dir=str(tmp_path / "s"))


def test_temporary_files_of_the_run_and_its_workers_go_under_the_root_and_are_removed(tmp_path):
    layout = _layout(tmp_path)
    os.makedirs(layout.root)
    before = tempfile.gettempdir(), os.environ.get("TMPDIR")
    with local_runner.scratch_dir(layout) as folder:
        assert os.path.dirname(folder) == os.path.join(layout.root, "tmp")
        assert tempfile.gettempdir() == os.environ["TMPDIR"] == folder
        tempfile.mkstemp()  # as AutoGraph writes its generated sources
        worker = "import tempfile; tempfile.mkstemp(prefix='worker')"  # a Beam worker process
        subprocess.run([sys.executable, "-c", worker], check=True)
        assert len(os.listdir(folder)) == 2
    assert (tempfile.gettempdir(), os.environ.get("TMPDIR")) == before
    assert os.listdir(layout.root) == []  # the folder and the tmp it made are gone


def test_a_tmp_folder_that_was_there_is_kept_and_a_tmp_file_is_refused(tmp_path):
    layout = _layout(tmp_path)
    os.makedirs(os.path.join(layout.root, "tmp"))
    with local_runner.scratch_dir(layout):
        pass
    assert os.listdir(layout.root) == ["tmp"] and os.listdir(os.path.join(layout.root, "tmp")) == []
    os.rmdir(os.path.join(layout.root, "tmp"))
    with open(os.path.join(layout.root, "tmp"), "w") as f:
        f.write("mine")
    with pytest.raises(local_runner.RootError, match=r"tmp is a file; .*: move it"):
        with local_runner.scratch_dir(layout):
            pass
    assert open(os.path.join(layout.root, "tmp")).read() == "mine"


def test_the_quiet_console_puts_the_root_loggers_level_back(tmp_path):
    """Left at INFO, the reads after a blocked run printed ML Metadata's connection lines."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)
    try:
        for verbose in (False, True):
            with local_runner.quiet_console(str(tmp_path / "logs" / "run.log"), verbose):
                assert root.level == logging.INFO
            assert root.level == logging.WARNING
    finally:
        root.setLevel(before)
