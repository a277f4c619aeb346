# The commands a newcomer runs. Each one sets up first (idempotent, seconds when nothing changed).
SHELL := /bin/bash
ENV := source scripts/env.sh

.PHONY: setup test test-fast demo clean

setup:
	scripts/setup.sh

## The test suite, setup included: what CI runs.
test: setup
	$(ENV) && scripts/run_tests.sh

## The same without tests marked slow.
test-fast: setup
	$(ENV) && scripts/run_tests.sh -m "not slow"

## The main job (see README).
demo: setup
	$(ENV) && a2r demo

clean:
	rm -rf build install log .venv
