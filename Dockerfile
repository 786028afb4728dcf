# The image every task of the compiled pipeline runs (`nanguard compile --image ...`).
# Same lock as the local setup: the TFX 1.16 stack on Python 3.10, glibc 2.36 (Debian 12).
FROM python:3.10-slim-bookworm

WORKDIR /nanguard
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir "$(grep '^uv==' requirements.lock)" \
 && python -m uv pip sync --system --no-cache --compile-bytecode requirements.lock

COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY schemas ./schemas
RUN python -m uv pip install --system --no-cache --no-deps . \
 && python -c "import nanguard.components, nanguard.pipelines"

# KubeflowV2DagRunner sets each task's command to TFX's own container entrypoint
# (tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor), installed with tfx.
ENV TF_USE_LEGACY_KERAS=1
