"""A Flink session cluster on this machine for nanguard's Beam stages: no Docker, loopback only.

    python deploy/flink/cluster.py fetch            # Flink's jars (PyPI), the job server (Maven)
    python deploy/flink/cluster.py up               # start, print the Beam arguments, wait for ^C
    python deploy/flink/cluster.py run -- CMD ARG.. # start, run CMD, stop; CMD's exit code

`run` gives CMD the environment variables NANGUARD_FLINK_BEAM_ARGS (the Beam arguments, one per
line), NANGUARD_FLINK_REST (http://127.0.0.1:PORT) and NANGUARD_FLINK_RUN_DIR (logs, and
`memory.json` written at the end: each JVM's peak resident memory).

What runs, each in its own process group, every one stopped on exit, on an error and on
SIGINT/SIGTERM:

- the JobManager (`StandaloneSessionClusterEntrypoint`, REST on 127.0.0.1),
- two TaskManagers (`TaskManagerRunner`, one slot each: parallelism 2),
- Beam's Flink job server (`FlinkJobServerDriver --flink-master=localhost:REST_PORT`),
- the Python SDK worker pool (`worker_pool.py`: `--environment_type=EXTERNAL`).

Versions: this machine's Maven Central serves no `beam-runners-flink-*-job-server` jar and no
`beam-runners-flink-1.17`/`1.18`; it serves `beam-runners-flink-1.16:2.59.0` (the Beam of
requirements.lock), so the cluster is Flink 1.16.3, whose jars come from the PyPI package
`apache-flink-libraries` (they run on Java 17 with the `--add-opens` below). `pom.xml` beside
this file lists the job server's jars; `fetch` copies them into the cache and writes a
manifest-only jar whose `Class-Path` names them (`--flink_job_server_jar` takes that jar too).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

from settings import FLINK_CONF, JAVA17_OPTS, JOB_SERVER_LOG, LOG4J

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("NANGUARD_FLINK_CACHE", os.path.join(REPO, ".flink-cache"))
FLINK_VERSION = "1.16.3"
JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
TASK_MANAGERS = 2


def _log(message: str) -> None:
    print(f"flink cluster: {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------


def flink_home(cache: str = CACHE) -> str:
    return os.path.join(cache, f"flink-{FLINK_VERSION}")


def job_server_jar(cache: str = CACHE) -> str:
    return os.path.join(cache, "beam-job-server", "beam-flink-job-server.jar")


def fetch(cache: str = CACHE) -> None:
    """Brings Flink's jars and the job server's jars into `cache` (once; kept for later runs)."""
    home = flink_home(cache)
    if not os.path.exists(os.path.join(home, "lib", f"flink-dist-{FLINK_VERSION}.jar")):
        downloads = os.path.join(cache, "downloads")
        package = f"apache-flink-libraries=={FLINK_VERSION}"
        _log(f"pip download {package} (Flink's jars, ~240 MB)")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", downloads],
            check=True,
        )
        sdist = os.path.join(downloads, f"apache-flink-libraries-{FLINK_VERSION}.tar.gz")
        partial = home + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                keep = parts[1:3] == ["deps", "lib"] or parts[1:] == [
                    "deps",
                    "bin",
                    "bash-java-utils.jar",
                ]
                if member.isfile() and keep and member.name.endswith(".jar"):
                    target = os.path.join(partial, parts[2], os.path.basename(member.name))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        shutil.rmtree(home, ignore_errors=True)
        os.rename(partial, home)
    jar = job_server_jar(cache)
    if not os.path.exists(jar):
        lib = os.path.join(os.path.dirname(jar), "lib")
        _log("mvn dependency:copy-dependencies (Beam's Flink job server, ~160 MB)")
        subprocess.run(
            ["mvn", "-q", "-f", os.path.join(HERE, "pom.xml"), "dependency:copy-dependencies"]
            + [f"-DoutputDirectory={lib}"],
            check=True,
        )
        _manifest_jar(jar, JOB_SERVER_MAIN, [f"lib/{n}" for n in sorted(os.listdir(lib))])
    _log(f"cache ready: {cache}")


def _manifest_jar(path: str, main_class: str, class_path: list[str]) -> None:
    """A jar holding only a manifest: `java -jar path` runs `main_class` over `class_path`."""
    text = f"Manifest-Version: 1.0\nMain-Class: {main_class}\nClass-Path: {' '.join(class_path)}"
    lines = []
    for line in text.split("\n"):  # manifest lines are at most 72 bytes; continuations: " "
        lines.append(line[:70])
        lines += [" " + line[i : i + 69] for i in range(70, len(line), 69)]
    with zipfile.ZipFile(path + ".partial", "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "\r\n".join(lines) + "\r\n\r\n")
    os.replace(path + ".partial", path)


# ---------------------------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Cluster:
    """The processes of one session cluster; a context manager that always stops them all."""

    def __init__(self, cache: str = CACHE, run_dir: str | None = None, tm_memory: str = "4096m"):
        self.cache = cache
        self.run_dir = run_dir or os.path.join(cache, "runs", time.strftime("%Y%m%d-%H%M%S"))
        self.tm_memory = tm_memory
        self.procs: dict[str, subprocess.Popen] = {}
        self.rest_port = self.job_port = self.pool_port = 0

    # -- the Beam side -------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def beam_args(self, parallelism: int = TASK_MANAGERS) -> list[str]:
        """The Beam pipeline arguments that run a pipeline on this cluster."""
        return [
            "--runner=FlinkRunner",
            f"--flink_master=localhost:{self.rest_port}",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.pool_port}",
            f"--parallelism={parallelism}",
            # A TaskManager keeps an idle SDK harness a minute for the job's next stage
            # instead of starting a new Python process (TF imports) for every stage.
            "--environment_cache_millis=60000",
        ]

    def rest(self, path: str):
        with urllib.request.urlopen(self.rest_url + path, timeout=10) as r:
            return json.load(r)

    def jobs(self) -> list[dict]:
        """Every Flink job of this cluster: name, state, start-time and end-time (ms)."""
        return self.rest("/jobs/overview")["jobs"]

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict | None = None) -> None:
        log = open(os.path.join(self.run_dir, "log", f"{name}.out"), "wb")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends its children too
            env=env,
            cwd=self.run_dir,
        )
        log.close()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; see "
                    f"{os.path.join(self.run_dir, 'log', name + '.out')}"
                )

    def _wait(self, what: str, ready, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, ValueError, KeyError):
                if ready():
                    return
            time.sleep(1)
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s; logs in {self.run_dir}/log")

    def _flink_jvm(self, name: str, main: str, params: str, conf: str) -> None:
        home = flink_home(self.cache)
        classpath = os.path.join(home, "lib", "*")
        utils = [os.path.join(home, "bin", "bash-java-utils.jar"), classpath]
        out = subprocess.run(
            ["java", "-cp", ":".join(utils), "org.apache.flink.runtime.util.bash.BashJavaUtils"]
            + [params, "--configDir", conf],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results = [
            line.split(":", 1)[1]
            for line in out.splitlines()
            if line.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")
        ]
        jvm, dynamic = results[-2].split(), results[-1].split()
        log = os.path.join(self.run_dir, "log", f"{name}.log")
        command = ["java", *jvm, *JAVA17_OPTS, f"-Dlog.file={log}"]
        command += [f"-Dlog4j.configurationFile=file:{conf}/log4j.properties", "-cp", classpath]
        self._spawn(name, [*command, main, "--configDir", conf, *dynamic])

    def start(self) -> Cluster:
        fetch(self.cache)
        conf = os.path.join(self.run_dir, "conf")
        for sub in ("conf", "log", "tmp", "artifacts"):
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        self.rest_port, self.pool_port = _free_port(), _free_port()
        with open(os.path.join(conf, "flink-conf.yaml"), "w") as f:
            f.write(
                FLINK_CONF.format(
                    rpc_port=_free_port(),
                    rest_port=self.rest_port,
                    parallelism=TASK_MANAGERS,
                    tm_memory=self.tm_memory,
                    tmp=os.path.join(self.run_dir, "tmp"),
                )
            )
        with open(os.path.join(conf, "log4j.properties"), "w") as f:
            f.write(LOG4J)
        atexit.register(self.stop)
        _log(f"starting Flink {FLINK_VERSION}: JobManager + {TASK_MANAGERS} TaskManagers")
        self._flink_jvm(
            "jobmanager",
            "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
            "GET_JM_RESOURCE_PARAMS",
            conf,
        )
        for i in range(1, TASK_MANAGERS + 1):
            self._flink_jvm(
                f"taskmanager-{i}",
                "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                "GET_TM_RESOURCE_PARAMS",
                conf,
            )
        self._wait(
            f"{TASK_MANAGERS} TaskManagers at {self.rest_url}",
            lambda: self.rest("/overview")["taskmanagers"] == TASK_MANAGERS,
        )
        self._spawn(
            "job-server",
            ["java", *JAVA17_OPTS, *JOB_SERVER_LOG, "-jar", job_server_jar(self.cache)]
            + [f"--flink-master=localhost:{self.rest_port}", "--job-host=localhost"]
            # Port 0 binds to loopback (a given port binds every interface); -1: no expansion.
            + ["--job-port=0", "--artifact-port=0", "--expansion-port=-1"]
            + [f"--artifacts-dir={os.path.join(self.run_dir, 'artifacts')}"],
        )
        # The SDK harnesses the pool starts run `python`: this interpreter's, first on PATH.
        env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
        self._spawn(
            "worker-pool",
            [sys.executable, os.path.join(HERE, "worker_pool.py"), f"--port={self.pool_port}"]
            + [f"--log-dir={os.path.join(self.run_dir, 'log')}"],
            env=env,
        )
        self._wait("the job server", self._job_server_port)
        self._wait("the worker pool", lambda: _port_open(self.pool_port))
        _log(f"ready: REST {self.rest_url}, job server :{self.job_port}, logs {self.run_dir}")
        return self

    def _job_server_port(self) -> bool:
        """True once the job server logged its port (then in `self.job_port`)."""
        with open(os.path.join(self.run_dir, "log", "job-server.out")) as f:
            for line in f:
                if "JobService started on " in line:
                    self.job_port = int(line.rsplit(":", 1)[1])
                    return _port_open(self.job_port)
        return False

    def peak_memory_mb(self) -> dict[str, float | None]:
        """Each process's peak resident memory so far (VmHWM), by name."""
        return {name: _peak_rss_mb(proc.pid) for name, proc in self.procs.items()}

    def stop(self) -> None:
        """Stops every process this cluster started (SIGTERM to its group, then SIGKILL)."""
        if not self.procs:
            return
        memory = self.peak_memory_mb()
        with contextlib.suppress(OSError):
            with open(os.path.join(self.run_dir, "memory.json"), "w") as f:
                json.dump(memory, f, indent=1)
        procs, self.procs = self.procs, {}
        for proc in reversed(procs.values()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: also children of a clean exit
            proc.wait()
        for scratch in ("tmp", "artifacts"):  # Flink's blobs (the jars of every job), staging
            shutil.rmtree(os.path.join(self.run_dir, scratch), ignore_errors=True)
        _log(f"stopped {len(procs)} processes ({', '.join(procs)}); logs kept in {self.run_dir}")

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through Cluster.__exit__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("fetch", "up", "run"))
    parser.add_argument("command", nargs="*", help="for `run`: the command (after --)")
    args = parser.parse_args(argv)
    if args.action == "fetch":
        fetch()
        return 0
    signal.signal(signal.SIGTERM, _on_signal)
    with Cluster() as cluster:
        beam_args = cluster.beam_args()
        if args.action == "up":
            print("Beam arguments:", *beam_args, sep="\n  ", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(5)
                    cluster._check_alive()
            return 0
        env = {
            **os.environ,
            "NANGUARD_FLINK_BEAM_ARGS": "\n".join(beam_args),
            "NANGUARD_FLINK_REST": cluster.rest_url,
            "NANGUARD_FLINK_RUN_DIR": cluster.run_dir,
        }
        code = subprocess.run(args.command, env=env).returncode
        memory = cluster.peak_memory_mb()
    print("Peak resident memory (MB):", end="")
    print("".join(f"\n  {k:<14} {v:8.0f}" for k, v in memory.items() if v is not None))
    return code


if __name__ == "__main__":
    sys.exit(main())
