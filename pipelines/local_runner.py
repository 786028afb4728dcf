"""Local runs: where a run keeps its files, the runner that reports each stage, the console.

Reading a run back from ML Metadata is `run_record.py`'s."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from nanguard.components.errors import InputError, guard_block

# Written into every root nanguard creates; a root without it (and without ML Metadata from an
# earlier run) that already holds files belongs to someone else and is refused.
ROOT_MARKER = ".nanguard-root"
LOCK_FILE = ".nanguard-lock"


class RootError(InputError):
    """`--root` is a folder nanguard may not write into; the message says what to pass instead."""


@dataclasses.dataclass
class Layout:
    """Where one local run keeps its files; all of it lives under `root`.

    nanguard writes only into the folders below (each created by nanguard) and never deletes a
    file: staged data goes to a new folder per run. `artifact_root` (any path TFX's file I/O
    reads, gs:// included) moves the components' artifacts out of `root`, for Beam workers
    that cannot read this machine's disk (Dataflow); metadata, logs and the lock stay local.
    """

    root: str
    serving_dir: str
    artifact_root: str | None = None

    @property
    def pipeline_root(self) -> str:
        return self.artifact_root or os.path.join(self.root, "pipeline")

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

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds `ROOT/.nanguard-lock` for one run: a second run on the same root exits 2.

        Two runs writing one ML Metadata store and one serving folder at once would interleave
        their artifacts; the lock is an advisory `flock`, released by the OS even on SIGKILL.
        """
        import fcntl

        path = os.path.join(self.root, LOCK_FILE)
        handle = open(path, "a+")  # noqa: SIM115 - closed below
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RootError(
                    f"--root {self.root}: another nanguard run ({holder}) is using this root; "
                    "wait for it to finish or pass another --root"
                ) from e
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            handle.close()

    def check_serving_dir(self) -> None:
        """Creates `serving_dir` if needed; InputError if it cannot hold new model versions.

        The Pusher only adds version folders; nothing in `serving_dir` is ever changed.
        """
        if os.path.exists(self.serving_dir) and not os.path.isdir(self.serving_dir):
            raise InputError(f"--serving-dir {self.serving_dir}: is a file; pass a folder")
        try:
            os.makedirs(self.serving_dir, exist_ok=True)
        except OSError as e:
            raise InputError(
                f"--serving-dir {self.serving_dir}: cannot be created ({e.strerror}); pass a "
                "folder nanguard can write to"
            ) from e
        if not os.access(self.serving_dir, os.W_OK | os.X_OK):
            raise InputError(
                f"--serving-dir {self.serving_dir}: not writable; pass a folder nanguard can "
                "write to"
            )

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
    """`create_pipeline` with the local layout's roots and ML Metadata filled in."""
    from nanguard.pipelines import pipeline as pipeline_lib  # loads TensorFlow and Beam

    return pipeline_lib.create_pipeline(
        pipeline_root=layout.pipeline_root,
        serving_model_dir=layout.serving_dir,
        metadata_path=layout.metadata_path,
        **pipeline_kwargs,
    )


def run(pipeline, console: TextIO | None = None) -> str:
    """Runs a built pipeline locally, printing one line per component to `console`.

    Returns the run id. Exceptions from a component propagate unchanged, with the run id as
    `.nanguard_run_id` (ML Metadata holds the rest: `run_record.read_run`).
    """
    from nanguard.pipelines.observed_runner import ObservedLocalDagRunner

    def started(node_id: str) -> None:
        if console:
            console.write(f"  {node_id:<22} started\n")

    def finished(node_id: str, seconds: float, error: BaseException | None) -> None:
        if console:
            verdict = "finished in" if error is None else "FAILED after"
            if error is not None and guard_block(error) is not None:
                verdict = "BLOCKED after"  # a guard's refusal, not a crash
            console.write(f"  {node_id:<22} {verdict} {seconds:6.1f} s\n")

    runner = ObservedLocalDagRunner(on_start=started, on_finish=finished)
    try:
        runner.run(pipeline)
    except BaseException as e:
        e.nanguard_run_id = runner.run_id  # type: ignore[attr-defined]
        raise
    return runner.run_id


@contextlib.contextmanager
def scratch_dir(layout: Layout) -> Iterator[str]:
    """A folder `ROOT/tmp/run-*` for the run's temporary files, removed with everything in it
    afterwards (and `ROOT/tmp` when this run made it and it is empty). TensorFlow's AutoGraph
    writes the source of each function it converts to the temp folder and never deletes it
    (~21 files a run); `tempfile` in this process and TMPDIR for the Beam workers it starts
    point here meanwhile.

    Raises:
      RootError: `ROOT/tmp` exists and is not a folder.
    """
    parent = os.path.join(layout.root, "tmp")
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise RootError(
            f"{parent} is a file; nanguard keeps a run's temporary files there: move it"
        )
    made = not os.path.isdir(parent)
    os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="run-", dir=parent)
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = folder, folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)
        if made:
            with contextlib.suppress(OSError):
                os.rmdir(parent)  # only when nothing else is in it


@contextlib.contextmanager
def quiet_console(log_path: str, verbose: bool) -> Iterator[TextIO]:
    """Sends everything (Python logging, TF's C++ log, prints) to `log_path`; yields a console.

    With `verbose`, nothing is redirected. The console stream yielded writes to the terminal.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(file_handler)
    level = root.level  # put back after: INFO afterwards printed ML Metadata's connection lines
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if verbose:
        try:
            yield sys.stdout
        finally:
            root.removeHandler(file_handler)
            root.setLevel(level)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved_out), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    quiet = []
    for h in root.handlers:
        if h is not file_handler:
            quiet.append((h, h.level))
            h.setLevel(logging.CRITICAL + 1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        console.close()
        for h, h_level in quiet:
            h.setLevel(h_level)
        root.removeHandler(file_handler)
        root.setLevel(level)
