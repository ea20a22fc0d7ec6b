# Quick start: `make demo` (main job) and `make test` (test suite). Both build .venv themselves.
# A GPU user picks their torch build, e.g.:  make test TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu124
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-gpu lint bench bench-all bench-gpu clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[test,demo]" "$(TORCH_SPEC)"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/monai-segloss demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# the benchmark peers (nnU-Net v2's losses): the `bench` extra, installed once beside the pinned torch
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[test,demo,bench]" "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	touch $(BENCH_STAMP)

# ours against nnU-Net and MONAI at every class count: table, JSON and plot in benchmarks/results/, README summary
bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench_peers.py --threads 2 --readme README.md $(BENCH_ARGS)

# every registered loss against MONAI (benchmarks/bench_losses.py)
bench-all: $(STAMP)
	$(PY) benchmarks/bench_losses.py $(BENCH_ARGS)

# the same table on a CUDA device (a CUDA build of torch: TORCH_INDEX=https://download.pytorch.org/whl/cu124)
bench-gpu: $(BENCH_STAMP)
	$(PY) benchmarks/bench_peers.py --device cuda $(BENCH_ARGS)

# the suite's device-parametrised tests on CUDA (skipped without a GPU)
test-gpu: $(STAMP)
	$(PY) -m pytest -q -k cuda $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
