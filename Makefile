# Voice Lab: `make run` starts the app, `make test` runs the whole test suite.
# Both create .venv and install requirements.txt (and, as root, the Debian
# packages the tests and app use) on first use.
PY := .venv/bin/python
STAMP := .venv/.installed
# build-essential/python3-dev: pesq and pyworld build from source; python3-venv: the .venv itself
SYSTEM_PACKAGES := build-essential python3-dev python3-venv ffmpeg flite espeak-ng chromium chromium-driver
PYTEST_ARGS ?=

.PHONY: run test lint system-packages bench

$(STAMP): requirements.txt | system-packages
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip "setuptools<81" wheel
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Missing system packages:$$missing. Install them with: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
