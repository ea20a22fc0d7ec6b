# Quick start: `make demo` (main job) and `make test` (test suite). Both build .venv themselves.
# A GPU user picks their torch build, e.g.:  make test TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu124
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# setuptools notes every editable install made through an import hook ("Editable installation ... folders in your
# working directory"): nothing to act on here, the hook is what maps monai_segloss.bundles / .data_scripts
NO_NOTE := PYTHONWARNINGS="ignore:Editable installation"

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(NO_NOTE) $(PY) -m pip install -q -e ".[test,demo]" "$(TORCH_SPEC)"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/monai-segloss demo $(DEMO_ARGS)

test: lint
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# ruff, then mypy on monai_segloss/ and tests/typing/ ([tool.mypy] in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_losses.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache
