"""The fault matrix's one real pushed model (tests/pipelines/test_faults.py).

`pushed` runs `nanguard run` on the bundled data, kills it with SIGKILL once its Trainer has
started, and runs the same command again into the same root: the second run pushes the model
every fault case then checks (one fixture pays for the kill-and-rerun case and the shared model).
With NANGUARD_FAULTS_ROOT=DIR (a root of an earlier run whose serving folder is DIR/serving), a
copy of it is used instead and nothing is run (the kill case then skips): for working on the
cases, never in CI.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.pipelines import faults_data

NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
TRAIN_STEPS = ["--train-steps", "60"]
TRAINER_STARTED = re.compile(r"^\s*Trainer\s+started\s*$")


@dataclasses.dataclass
class Pushed:
    """A root with one pushed model, the serving folder's snapshot and the kill-run's record."""

    tmp: str
    root: str
    serving_dir: str
    version: str = ""
    snapshot: dict = dataclasses.field(default_factory=dict)
    examples: list = dataclasses.field(default_factory=list)
    killed: dict | None = None  # the SIGKILLed run: its stdout lines, serving listing after it
    rerun: subprocess.CompletedProcess | None = None

    def flags(self) -> list[str]:
        return ["--root", self.root, "--serving-dir", self.serving_dir]

    def accept_new_versions(self) -> list[str]:
        """After a run that pushed: check only version folders were added; make them baseline."""
        before = set(faults_data.version_folders(self.serving_dir))
        faults_data.assert_serving_intact(self, allow_new_versions=True, load=False)
        self.snapshot = faults_data.serving_snapshot(self.serving_dir)
        return sorted(set(faults_data.version_folders(self.serving_dir)) - before)


def run_and_kill_in_trainer(argv: list[str], cwd: str, timeout: float = 1200) -> dict:
    """Starts `argv` in its own process group, SIGKILLs the group 1 s after `Trainer started`."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines, deadline, seen = [], time.monotonic() + timeout, False
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if TRAINER_STARTED.match(line):
                seen = True
                time.sleep(1.0)
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if time.monotonic() > deadline:
                break
    finally:
        if proc.poll() is None and not seen:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return {"lines": lines, "returncode": proc.returncode, "trainer_started": seen}


@pytest.fixture(scope="session")
def pushed(tmp_path_factory) -> Pushed:
    tmp = str(tmp_path_factory.mktemp("faults"))
    root = os.path.join(tmp, "root")
    serving = os.path.join(tmp, "serving")
    result = Pushed(tmp=tmp, root=root, serving_dir=serving)
    reuse = os.environ.get("NANGUARD_FAULTS_ROOT")
    if reuse:
        shutil.copytree(reuse, root, symlinks=True, ignore=shutil.ignore_patterns(".nanguard-lock"))
        shutil.move(os.path.join(root, "serving"), serving)
    else:
        argv = [*NANGUARD, "run", *result.flags(), *TRAIN_STEPS]
        result.killed = run_and_kill_in_trainer(argv, cwd=tmp)
        result.killed["serving_after_kill"] = faults_data.version_folders(serving)
        result.killed["serving_files_after_kill"] = sorted(
            faults_data.serving_snapshot(serving) if os.path.isdir(serving) else {}
        )
        result.rerun = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=1800)
        print(result.rerun.stdout, result.rerun.stderr)
        assert result.rerun.returncode == 0, result.rerun.stdout + result.rerun.stderr
    (result.version,) = faults_data.version_folders(serving)
    result.snapshot = faults_data.serving_snapshot(serving)
    result.examples = faults_data.raw_examples(6)
    return result


def blocked_text(stdout: str) -> str:
    """The BLOCKED block of a run's console: its first line and one line per violation."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("BLOCKED"))
    block = [lines[start]]
    block += [line for line in lines[start + 1 :] if line.startswith("  - ")]
    return "\n".join(block)
