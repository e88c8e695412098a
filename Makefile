PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install test demo clean

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

clean:
	rm -rf $(VENV) work_dirs
