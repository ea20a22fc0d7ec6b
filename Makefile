# Quick start: `make demo` (main job) and `make test` (test suite). Both build .venv themselves.
# A GPU user picks their torch build, e.g.:  make test TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu124
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# nnU-Net for the tests of monai_segloss/nnunet, without its timm -> torchvision chain (see pyproject's nnunet-cpu)
NNUNET_SPEC ?= "nnunetv2==2.8.1" "dynamic-network-architectures==0.4.4"
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NNUNET_STAMP := $(VENV)/.installed-nnunet
DOCS_STAMP := $(VENV)/.installed-docs

# setuptools notes every editable install made through an import hook ("Editable installation ... folders in your
# working directory"): nothing to act on here, the hook is what maps monai_segloss.bundles / .data_scripts
NO_NOTE := PYTHONWARNINGS="ignore:Editable installation"

.PHONY: venv demo test test-slow test-gpu lint bench bench-all bench-gpu docs clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(NO_NOTE) $(PY) -m pip install -q -e ".[test,demo]" "$(TORCH_SPEC)"
	touch $(STAMP)

# the nnU-Net part of the tests (tests/test_nnunet_trainers.py); make demo does not need it
$(NNUNET_STAMP): $(STAMP)
	$(NO_NOTE) $(PY) -m pip install -q -e ".[nnunet-cpu]" "$(TORCH_SPEC)"
	$(PY) -m pip install -q --no-deps $(NNUNET_SPEC)
	touch $(NNUNET_STAMP)

# the documentation site's tools (pyproject's docs extra)
$(DOCS_STAMP): $(STAMP)
	$(NO_NOTE) $(PY) -m pip install -q -e ".[docs]" "$(TORCH_SPEC)"
	touch $(DOCS_STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/monai-segloss demo $(DEMO_ARGS)

test: lint $(NNUNET_STAMP)
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# the long end-to-end tests: the wheel in a fresh environment, soak, torch.compile, the study end to end
test-slow: $(STAMP) $(NNUNET_STAMP)
	$(PY) -m pytest -n 2 -q -m slow $(PYTEST_ARGS)

# the site in docs/_build/html (Sphinx, warnings are errors): generates the gallery, the loss and API pages and the
# MONAI vector and error tables (docs/_ext), builds, then checks the built pages (tests/test_docs_site.py)
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -E -W --keep-going -q -b html docs docs/_build/html
	$(PY) -m pytest -p no:xdist -q -m docs tests/test_docs_site.py

# ruff, then mypy on monai_segloss/ and tests/typing/ ([tool.mypy] in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# ours against nnU-Net and MONAI at every class count: table, JSON and plot in benchmarks/results/, README summary
# (nnU-Net v2 installed as for make test; matplotlib from the demo extra)
bench: $(STAMP) $(NNUNET_STAMP)
	$(PY) benchmarks/bench_peers.py --threads 2 --readme docs/performance.md $(BENCH_ARGS)

# every registered loss against MONAI (benchmarks/bench_losses.py)
bench-all: $(STAMP)
	$(PY) benchmarks/bench_losses.py $(BENCH_ARGS)

# the same table on a CUDA device (a CUDA build of torch: TORCH_INDEX=https://download.pytorch.org/whl/cu124)
bench-gpu: $(STAMP) $(NNUNET_STAMP)
	$(PY) benchmarks/bench_peers.py --device cuda $(BENCH_ARGS)

# the suite's device-parametrised tests on CUDA (skipped without a GPU)
test-gpu: $(STAMP)
	$(PY) -m pytest -q -k cuda $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache docs/_build docs/_generated
