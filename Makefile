# The two commands of the README:
#   make run    install what the app needs and start it on the bundled default model
#   make test   install what the tests need and run the whole suite (with the linter)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint lint-all bench gpu-check install install-dev chromium proxy

# The package is installed editable, so the checkout is what runs; `pip install .` gives the same
# `cnnviz` command from a wheel.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Browser tests drive Debian's chromium (Playwright cannot download its own browser offline).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The serving tests (tests/serve) put Debian's nginx in front of two replicas (deploy/serve.sh).
proxy:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "installing Debian's nginx for the serving tests"; \
	  apt-get update -qq && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }; }

run: $(VENV)/.installed
	$(VENV)/bin/cnnviz run --port $(PORT)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check cnnviz tests pages app.py setup.py

# the same rules as `make lint` (E, F, W, I, B, UP: all enforced), with counts per rule
lint-all: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check cnnviz tests pages app.py setup.py --statistics

# pytest exits 5 when it collected nothing: that is a failure here, never a silent green.
test: $(VENV)/.installed-dev chromium proxy lint
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: $(VENV)/.installed-dev
	$(PY) -m cnnviz.bench

# On a machine with CUDA: the whole suite and the bench on the GPU (see BENCHMARKS.md).
gpu-check: $(VENV)/.installed-dev
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device here')"
	CNNVIZ_DEVICE=cuda $(PY) -m pytest -x -q $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || exit $$rc
	CNNVIZ_DEVICE=cuda $(PY) -m cnnviz.bench --json > bench-cuda.json && echo "wrote bench-cuda.json"
