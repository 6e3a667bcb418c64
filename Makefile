# SkillCircle: the README's two commands.
#   make serve  — set up everything, prepare both cities, start http://127.0.0.1:8000
#   make test   — set up everything, lint, run the whole test suite with coverage (floor: 90%)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test install system-deps vendor lint prepare bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed vendor

# Leaflet and its plugins from the npm registry, into a git-ignored static folder.
api/static/vendor/.installed: package.json package-lock.json scripts/vendor.sh
	bash scripts/vendor.sh
	touch $@

vendor: api/static/vendor/.installed

# Debian packages the browser tests and the CJK posters need (headless chromium, a CJK font).
system-deps:
	bash scripts/system-deps.sh

prepare: install
	$(BIN)/skillcircle prepare

serve: prepare
	$(BIN)/skillcircle serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --cov

bench: install
	$(BIN)/python -m benchmarks.bench_engine
	$(BIN)/python -m benchmarks.bench_load
	$(BIN)/python -m benchmarks.bench_extract
	$(BIN)/python -m benchmarks.bench_valhalla
	$(BIN)/python -m benchmarks.bench_coverage
	$(BIN)/python -m benchmarks.bench_api
	$(BIN)/python -m benchmarks.bench_deploy
	$(BIN)/python -m benchmarks.bench_batch
	$(BIN)/python -m benchmarks.bench_warmup

clean:
	rm -rf $(VENV) var api/static/vendor node_modules .coverage .coverage.*
