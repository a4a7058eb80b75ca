# IAM Activity Tracker. `make demo` runs everything locally; `make test` runs the test suite.
.PHONY: demo test bench build check lint fmt clean help run-query report

CARGO ?= cargo

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

demo: ## Generate an organisation's day of CloudTrail, ingest it locally, show its alerts, export and query it
	$(CARGO) run --release --quiet -p iat-cli --no-default-features -- demo

test: ## Run every test, against a moto server this target installs, starts and stops
	scripts/with-moto.sh scripts/test.sh

bench: ## Run the benchmarks (moto started for the alerter's) and append figures to bench/results.jsonl
	$(CARGO) build --release --quiet -p iat-cli -p iat-sim -p iat-bench -p iat-lambda
	scripts/with-moto.sh target/release/iat-bench --results bench/results.jsonl $(BENCH_ARGS)

Q ?= daily_summary
DAYS ?= 7
FORMAT ?= table
run-query: ## Run a query of the catalogue on the local lake: make run-query Q=failed_auth [DAYS=7] [FORMAT=table|json|csv]
	$(CARGO) run --release --quiet -p iat-cli -- query $(Q) --days $(DAYS) --format $(FORMAT)

report: ## The weekly denied-calls report over the local lake
	$(CARGO) run --release --quiet -p iat-cli -- report

build: ## Build release binaries
	$(CARGO) build --release --workspace

check: lint ## Formatting and lints
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean: ## Remove build output, tools and local data
	$(CARGO) clean
	rm -rf .tools iat-data
