# The image every task of the compiled pipeline runs (`nanguard compile --image ...`).
# Same lock as the local setup: the TFX 1.16 stack on Python 3.10, glibc 2.36 (Debian 12).
FROM python:3.10-slim-bookworm

WORKDIR /nanguard
COPY requirements.lock ./
# One locked package ships only as source with C++ (pyfarmhash, for tensorflow-data-validation):
# g++ is there for the install and removed after it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && python -m pip install --no-cache-dir "$(grep '^uv==' requirements.lock)" \
 && python -m uv pip sync --system --no-cache --compile-bytecode requirements.lock \
 && apt-get purge -y --auto-remove g++ \
 && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY schemas ./schemas
RUN python -m uv pip install --system --no-cache --no-deps . \
 && python -c "import nanguard.components, nanguard.pipelines"

# `nanguard compile` sets each task's command to nanguard's container entrypoint
# (python -m nanguard.pipelines.entrypoint: TFX's kubeflow_v2_run_executor, exit 3 on a block).
ENV TF_USE_LEGACY_KERAS=1
