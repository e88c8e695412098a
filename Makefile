PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install test demo gpu-check clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q tests

# CMD vs DINO on built-in synthetic data -> work_dirs/demo/report.md
# (docs/demo.md); re-running reuses the finished steps.
demo: install
	$(PY) tools/demo.py --work-dir work_dirs/demo

# On a machine with a GPU: tests on CUDA, CMD vs DINO at ViT-S/16 batch 64
# bf16, loader images/s, a 50-iteration run -> work_dirs/gpu_check/gpu_check.json
# (docs/benchmarks.md, "GPU check"; WHEELS=dir installs carried wheels first).
gpu-check: install
	PYTHON=$(PY) bash tools/gpu_check.sh $(if $(WHEELS),--wheels $(WHEELS))

clean:
	rm -rf $(VENV) work_dirs
