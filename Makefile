# TreeBeard Monitoring — the two commands: `make run` and `make test`
# (plus `make bench` and `make soak`, which measure and are not tests).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
PEERS := tests/peers
PY    := $(VENV)/bin/python

.PHONY: help run build test run-smoke test-rust lint fmt architecture peers-install bench soak bench-tools browser-tools dev-console-screenshot valgrind perf-guard clean publish-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Run the example API on 127.0.0.1:8080 with local defaults and the dev console
	# No agent runs locally by default: export nothing unless asked to.
	@echo "Dev console: http://127.0.0.1:$${PORT:-8080}/_treebeard"
	DD_ENV=$${DD_ENV:-local} DD_TRACE_SAMPLE_RATE=$${DD_TRACE_SAMPLE_RATE:-1.0} APM_PROVIDER=$${APM_PROVIDER:-none} METRICS_BACKEND=$${METRICS_BACKEND:-none} \
		TREEBEARD_DEV_CONSOLE=$${TREEBEARD_DEV_CONSOLE:-true} cargo run -p example-api

build: ## Build every crate and the binaries the tests drive
	cargo build --workspace --bins

test: peers-install browser-tools lint build run-smoke test-rust perf-guard ## Install test peers, lint, and run every test

run-smoke: ## `make run` as README.md shows it: serves /health, a route and the dev console, stops on SIGTERM
	python3 scripts/run_smoke.py

test-rust:
	cargo test --workspace --all-targets
	cargo test --workspace --doc

lint: ## rustfmt, clippy, rustdoc (warnings are errors) and the MSRV check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --lib
	python3 scripts/check_msrv.py

publish-check: ## Package every library crate and the CLI as crates.io would, and build them (a few minutes; nothing is uploaded)
	cargo publish --workspace --dry-run

fmt: ## Format the code
	cargo fmt --all

architecture: ## Regenerate docs/architecture/*.mmd from the code
	TREEBEARD_ARCH_BLESS=1 cargo test -p treebeard-arch --test workspace

bench: $(VENV)/.installed bench-tools ## Benchmark table (callgrind + wrk) into target/bench/results.md
	benches/run.sh

soak: $(VENV)/.installed bench-tools ## 5 minutes of load on the example, agent killed and restarted (not a test)
	benches/soak.sh

bench-tools:
	@command -v wrk >/dev/null && command -v valgrind >/dev/null || apt-get install -y wrk valgrind

# Headless Chromium for the dev console's browser test (tests/tests/dev_console.rs).
browser-tools:
	@command -v chromium >/dev/null || apt-get install -y chromium

dev-console-screenshot: browser-tools ## Screenshot of the dev console into docs/dev-console.png
	cargo build -p example-api
	cargo test -p treebeard-e2e --test dev_console -- --ignored --exact screenshot

valgrind:
	@command -v valgrind >/dev/null || apt-get install -y valgrind

# Counts the debug bench-driver that `build` made: no compilation of its own.
perf-guard: valgrind build ## Instructions per request of the full stack (callgrind) against benches/guard-baseline.txt (+5 %)
	benches/guard.sh

# Python peers go into a venv under the repo, npm peers under tests/peers;
# both from pinned files, re-installed only when those files change.
peers-install: $(VENV)/.installed $(PEERS)/node_modules/.installed ## Install the test peers (pinned)

$(VENV)/.installed: $(PEERS)/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(PEERS)/requirements.txt
	touch $@

$(PEERS)/node_modules/.installed: $(PEERS)/package.json $(PEERS)/package-lock.json
	npm ci --prefix $(PEERS) --no-audit --no-fund --loglevel=error
	mkdir -p $(@D) && touch $@

clean: ## Remove build output and installed peers
	cargo clean
	rm -rf $(VENV) $(PEERS)/node_modules
