# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) the virtual environment in .venv and install what they
# need; a stamp file makes the second run fast.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --quiet
# The CPU build of torch lies on these machines' local disk; pinning it first
# keeps pip from ever pulling a multi-GB CUDA build. Override on other machines:
#   make test TORCH_SPEC='torch>=2.4'
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
RUN_DIR ?= runs/demo-digits
DEMO_DIR ?= runs/demo

.PHONY: demo test install bench clean tutorials lint

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m pyrolatent.demo --out $(DEMO_DIR)

# Re-execute every tutorial notebook with full settings and save its outputs in place.
tutorials: $(STAMP)
	cd tutorials && for nb in *.ipynb; do \
	  echo "tutorials: $$nb"; ../$(VENV)/bin/jupyter-execute --inplace --timeout=1800 "$$nb" || exit 1; done

test: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto

# Format the code and fix what ruff can fix.
lint: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) runs .pytest_cache
