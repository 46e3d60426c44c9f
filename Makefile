# Two commands do all the set-up on a fresh machine (Python 3.10+, pip):
#   make demo   create .venv, install farout, run the demo
#   make test   create .venv, install farout with test extras, run the tests
#   make serve  install the service, register the demo model, serve it on :8000
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test serve lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-service: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[service]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/farout demo --out farout-demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

serve: $(VENV)/.installed-service
	$(BIN)/farout serve --demo --registry farout-registry

lint: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet --disable-pip-version-check ruff
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

clean:
	rm -rf $(VENV) farout-demo farout-registry build src/*.egg-info .pytest_cache .hypothesis
