"""Beam's Python SDK worker pool (`--environment_type=EXTERNAL`), bound to 127.0.0.1 only.

    python deploy/flink/worker_pool.py --port=PORT

The same servicer as `apache_beam.runners.worker.worker_pool_main` (one SDK harness process per
StartWorker request from a TaskManager), which binds to every interface and pipes each harness's
output to nobody; this one listens on loopback only, starts the harnesses with this interpreter
and writes each one's output to `--log-dir/harness-<worker id>-<n>.log`. SIGTERM stops the
harness processes and the server. StopWorker requests are not acted on (see `StopWorker`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import threading

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor


class LoggedWorkerPool(BeamFnExternalWorkerPoolServicer):
    """Starts each SDK harness as `sys.executable` with its output in a log file."""

    def __init__(self, log_dir: str):
        super().__init__(use_process=True)
        self._log_dir, self._count = log_dir, itertools.count()
        self.processes: list[subprocess.Popen] = []

    def StopWorker(self, request, context):  # noqa: N802 - the gRPC method's name
        # Worker ids are only unique per TaskManager ("1-1" comes from each of them), so a
        # StopWorker by id could end another TaskManager's harness mid-stage (Flink then sees
        # "CANCELLED: client cancelled"). A harness ends by itself when its TaskManager closes
        # the control stream; the pool ends the rest when it stops.
        return beam_fn_api_pb2.StopWorkerResponse()

    def StartWorker(self, request, context):  # noqa: N802 - the gRPC method's name
        code = (
            "import logging; logging.basicConfig(level=logging.INFO); "
            "from apache_beam.runners.worker.sdk_worker import SdkHarness; "
            f"SdkHarness({request.control_endpoint.url!r}, worker_id={request.worker_id!r}, "
            "state_cache_size=0, data_buffer_time_limit_ms=0).run()"
        )
        name = f"harness-{request.worker_id}-{next(self._count)}.log"
        try:
            with open(os.path.join(self._log_dir, name), "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT
                )
            self.processes.append(process)
            print(f"worker pool: harness {request.worker_id} started, pid {process.pid}, {name}")
            return beam_fn_api_pb2.StartWorkerResponse()
        except OSError as e:
            return beam_fn_api_pb2.StartWorkerResponse(error=f"{type(e).__name__}: {e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-dir", default=".")
    args = parser.parse_args(argv)
    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    pool = LoggedWorkerPool(args.log_dir)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    sys.stdout.reconfigure(line_buffering=True)
    print(f"worker pool: listening on 127.0.0.1:{port}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    exited: set = set()
    while not stopped.wait(1):
        for process in pool.processes:
            if process.poll() is not None and process.pid not in exited:
                exited.add(process.pid)
                print(f"worker pool: harness pid {process.pid} exited with {process.returncode}")
    for process in pool.processes:
        process.terminate()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
