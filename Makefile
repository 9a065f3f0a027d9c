# `make run` and `make test` are the whole set-up on a fresh machine with Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
# constraints.txt pins every package the venv, the image and CI install (`make lock` renews it).
PIN := -c constraints.txt

.PHONY: install lock run test lint format bench clean

install: $(VENV)/.installed

# pip itself first, at its pinned version: the venv's own may be older than 23.3 (which drops
# extras of dependencies) and than 25.3 (no --build-constraint). Then the project, its
# dependencies and its build backend (setuptools, in pip's isolated build) all as pinned.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIN) --upgrade pip
	$(PY) -m pip install --quiet $(PIN) --build-constraint constraints.txt -e '.[dev]'
	touch $@

# Newest versions that pyproject.toml allows, resolved for the image's and CI's platform
# (Python 3.11, Linux x86-64), dev extra and build backend included; then `make install`.
lock: install
	@$(PY) -c 'import platform, sys; sys.exit(None if sys.version_info[:2] == (3, 11) and platform.system() == "Linux" and platform.machine() == "x86_64" else "make lock resolves for the image and CI: run it with Python 3.11 on Linux x86-64")'
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --upgrade --extra dev \
	  --all-build-deps --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-emit-trusted-host --output-file constraints.txt pyproject.toml
	$(MAKE) install

run: install
	$(PY) -m app migrate
	$(PY) -m app import seeds/
	$(PY) -m app serve

test: install
	$(PY) -m pytest

# ruff (style), lint-imports (the layers: [tool.importlinter] in pyproject.toml), mypy (strict
# on app/, with the pydantic plugin: [tool.mypy]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every benchmark in bench/, at sizes that finish in a few minutes on 2 cores (each script
# run without arguments gives the full-size figures of docs/benchmarks.md; feed_parsers.py
# adds feedparser's rows once the bench extra is installed: .venv/bin/pip install -e
# '.[bench]'). SQLite only; with
# BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres the two that
# support it also run on a fresh database made (and dropped) on that server, and job_floor.py
# (Postgres only) runs too.
bench: install
	$(PY) bench/import_throughput.py --articles 2000 --ndjson 10000
	$(PY) bench/extraction.py --repeat 1
	$(PY) bench/neardup.py --synthetic 100
	$(PY) bench/feed_parsers.py --repeat 1
	$(PY) bench/archive_scale.py --articles 5000 $(if $(BENCH_POSTGRES_URL),--postgres-url '$(BENCH_POSTGRES_URL)')
	$(PY) bench/load.py --duration 10 --warmup 2 --preload 2000
	$(if $(BENCH_POSTGRES_URL),$(PY) bench/load.py --duration 10 --warmup 2 --preload 2000 --postgres-url '$(BENCH_POSTGRES_URL)')
	$(PY) bench/feeds.py --feeds 40 --entries 10 --sample 100 $(if $(BENCH_POSTGRES_URL),--postgres-url '$(BENCH_POSTGRES_URL)')
	$(if $(BENCH_POSTGRES_URL),$(PY) bench/job_floor.py --jobs 500 --articles 200 --pages 100 --postgres-url '$(BENCH_POSTGRES_URL)')

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
