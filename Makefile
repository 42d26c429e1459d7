# Two commands: `make run` (the platform on the embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ifneq ($(wildcard ../shared/tiktoken-cache),)
TIKTOKEN_CACHE_DIR ?= $(abspath ../shared/tiktoken-cache)
export TIKTOKEN_CACHE_DIR
endif

.PHONY: run test check install install-test browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright cannot download its own browsers here).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

install-test: browser $(VENV)/.installed $(VENV)/.installed-test

run: install
	$(PY) -m costwatch.launcher

# Lint, format and type checks first (seconds), then every test. mypy's Django plugin loads the
# settings, which only read the environment: a placeholder DATABASE_URL is enough (no connection).
check: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DATABASE_URL=$${DATABASE_URL:-postgres://unused@127.0.0.1:5432/unused} SECRET_KEY=$${SECRET_KEY:-mypy} $(PY) -m mypy

test: check
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
