"""Beam's Python SDK worker pool (`--environment_type=EXTERNAL`), bound to 127.0.0.1 only.

    python deploy/flink/worker_pool.py --port=PORT

The same servicer as `apache_beam.runners.worker.worker_pool_main` (one `python` SDK harness
process per StartWorker request from a TaskManager), which binds to every interface; this one
listens on loopback only. SIGTERM stops the harness processes and the server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    pool = BeamFnExternalWorkerPoolServicer(use_process=True)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    print(f"worker pool: listening on 127.0.0.1:{port}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(1):
        pass
    for process in list(pool._worker_processes.values()):
        process.terminate()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
