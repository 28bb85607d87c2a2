# Dockyard: the two entry points of the README, plus the checks CI runs.
#   make demo   the main job: scripts/demo.sh (grows with each issue)
#   make test   install what the tests need, make the venv, run every check
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := mmdebstrap skopeo zstd busybox-static ca-certificates iproute2 crun tini nftables libseccomp2 runc curl
PYTEST_ARGS ?=

.PHONY: demo test check lint typecheck layers pytest deps venv clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get -o DPkg::Lock::Timeout=900 update -qq || true; \
	  apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $$missing; \
	fi

$(BIN)/dockyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python scripts/write_launcher.py $@  # python -I -S: no site, ~3 ms per command
	$(BIN)/python -m compileall -q src  # PYTHONDONTWRITEBYTECODE may be set: start-up needs .pyc
	touch $@

venv: $(BIN)/dockyard

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

layers: venv
	$(BIN)/lint-imports

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

check: lint typecheck layers pytest

test: deps venv
	$(MAKE) check

demo: deps venv
	DY=$(BIN)/dockyard scripts/demo.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
