# The hotline CTI server. Two commands do all set-up on a fresh Debian or
# Ubuntu machine, as root:
#   make demo   Asterisk sandbox + server + call simulator; prints the URLs
#   make test   lint, layering, types, and the whole suite against the real Asterisk
#               sandbox and a throwaway PostgreSQL; stops them afterwards
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEPS_STAMP := var/.system-deps

# Debian packages: debootstrap builds the Asterisk sandbox; sip-tester is
# SIPp; postgresql gives initdb/pg_ctl for the throwaway test database;
# espeak-ng and sox render the IVR's prompts; chromium (headless, driven by
# Playwright) and fonts-noto-cjk for the browser tests of the pages
APT_PACKAGES := debootstrap sip-tester postgresql python3-venv ca-certificates espeak-ng sox \
                chromium fonts-noto-cjk

.PHONY: help demo demo-stop down test unit integration lint typecheck bench bench-full sandbox system-deps clean

help:
	@echo "make demo | make test | make bench | make down"

$(DEPS_STAMP): Makefile
	@missing=""; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	{ command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } \
	  || missing="$$missing postgresql"; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null \
	  || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "as root, run: apt-get install$$missing" >&2; exit 1; fi; \
	  echo "[deps] installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p var && touch $@

system-deps: $(DEPS_STAMP)

$(STAMP): pyproject.toml $(DEPS_STAMP)
	@echo "[deps] Python virtualenv in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@mkdir -p var
	@{ $(BIN)/python -m pip install --disable-pip-version-check --upgrade pip && \
	   $(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'; } \
	   > var/pip-install.log 2>&1 || { tail -30 var/pip-install.log; exit 1; }
	@touch $@

sandbox: $(STAMP)
	$(BIN)/hotline asterisk up
	$(BIN)/hotline prompts build

demo: $(STAMP)
	$(BIN)/hotline asterisk up
	$(BIN)/hotline prompts build
	$(BIN)/hotline db seed --demo --if-empty
	$(BIN)/hotline demo start

demo-stop:
	-$(BIN)/hotline demo stop

down: demo-stop
	-$(BIN)/hotline asterisk down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/hotline asterisk up
	$(BIN)/hotline prompts build
	@# the unit and database tests (no Asterisk) run beside the integration
	@# tests, at a lower CPU priority so the calls' timing is not disturbed
	@# (its exit status is the background job's own, from wait: a run cut short
	@# or failing fails make test)
	@mkdir -p var; rc=0; \
	nice -n 10 $(BIN)/pytest -q -p no:cacheprovider tests/unit tests/db \
	    > var/test-unit-db.log 2>&1 & fast=$$!; \
	$(BIN)/pytest -q --durations=10 tests/integration || rc=$$?; \
	wait $$fast; fast_rc=$$?; \
	echo "--- unit and database tests (var/test-unit-db.log): exit $$fast_rc"; \
	tail -n 30 var/test-unit-db.log; \
	[ "$$fast_rc" = 0 ] || rc=1; \
	$(BIN)/hotline asterisk down || true; \
	exit $$rc

# make bench: the quick set (under 5 minutes); make bench-full: everything
# (the call load at four rates twice in both modes, the SIP load, a 30-minute
# soak: about 70 minutes). Results in bench/results/, see docs/benchmarks.md
BENCH_DEPS = @$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'

bench: $(STAMP)
	$(BENCH_DEPS)
	$(BIN)/python -m bench.event_core --repeat 3
	$(BIN)/python -m bench.call_records --repeat 2 --calls 2000
	$(BIN)/hotline asterisk up
	$(BIN)/python -m bench.screen_pop
	$(BIN)/python -m bench.call_load --quick

bench-full: $(STAMP)
	$(BENCH_DEPS)
	$(BIN)/python -m bench.event_core
	$(BIN)/python -m bench.call_records
	$(BIN)/hotline asterisk up
	$(BIN)/python -m bench.screen_pop
	$(BIN)/python -m bench.call_load
	$(BIN)/python -m bench.sip_load
	$(BIN)/python -m bench.soak

clean: down
	rm -rf $(VENV) var/asterisk/chroot.building
