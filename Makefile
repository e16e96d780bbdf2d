# Two commands on a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
BIN := .venv/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: install run test test-fast lint fmt schema docs docs-config clean bench bench-smoke example chaos-soak

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: .venv/.synced  ## Create .venv with the locked dependencies.

run: install  ## The whole stack locally (embedded Redis unless INBOUND_REDIS_URL is set).
	$(BIN)/infobip-inbound dev

TEST_WORKERS ?= 2
# schemathesis gives its generated tests one node id, which pytest-xdist collapses: the fuzz suite runs whole in
# one process, or it would run (and count) only part of its cases.
test: install  ## The test suite (starts its own Redis servers), over TEST_WORKERS processes (0: in this one).
	$(BIN)/pytest -n $(TEST_WORKERS) --ignore=tests/fuzz
	$(BIN)/pytest -n 0 tests/fuzz

test-fast: install  ## The edit loop: every test that starts no process of its own (no receiver, worker or CLI run).
	$(BIN)/pytest -m "not slow"

example: install  ## The example handler package's own tests and strict mypy, against this installed package.
	cd examples/handler-package && ../../$(BIN)/python -m mypy && ../../$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install  ## ruff and mypy.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: install  ## Refresh the published JSON Schema of UserResponse.
	$(BIN)/infobip-inbound schema > docs/user-response.schema.json

docs: install  ## The documentation site from docs/ into site/ (mkdocs, strict: a broken link or anchor fails).
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-config: install  ## Regenerate docs/configuration.md from the settings (a test fails when it is stale).
	$(BIN)/python -m infobip_inbound.shell.settings_reference

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache

bench: install  ## Baselines and the receiver in one run; prints ratios, writes bench/results/latest.json.
	$(BIN)/python -m bench.run

bench-smoke: install  ## A few seconds per case: keeps the benchmark from rotting.
	$(BIN)/python -m bench.run --seconds 1 --rounds 1 --soak-messages 20000 --worker-messages 2000 --rq-messages 200 --io-messages 200 --rq-io-messages 20 --rate 50 --rate-seconds 2 --e2e-seconds 2 --lanes-seconds 2 --drain-backlog 3000 --output bench/results/smoke.json
	$(BIN)/python -m bench.request_costs --rounds 50

SOAK_ARGS ?= --messages 10000 --runs 5
chaos-soak: install  ## The chaos scenario repeated with random fault timing (not in `make test`); SOAK_ARGS="--help".
	$(BIN)/python -m tests.chaos.soak $(SOAK_ARGS)
