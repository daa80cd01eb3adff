# FaceInspector: the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install models bench screenshots clean lint

run: install models
	$(BIN)/faceinspector

test: install models
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

models: install
	$(BIN)/faceinspector models fetch

bench: install models
	$(BIN)/python benchmarks/detect.py

screenshots: install models
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
