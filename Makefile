# IAM Activity Tracker. `make demo` runs everything locally; `make test` runs the test suite;
# `make build deploy init` puts it in an AWS account.
.PHONY: help demo serve test bench build check-glibc validate deploy deploy-members init status events logs test-alerts trail-policy \
	destroy run-query report lint check fmt clean

CARGO ?= cargo
STACK ?= iam-activity-tracker
ARCH ?= $(or $(ARCHITECTURE),x86_64)
# The deploy tools' Python (cfn-lint, the SAM CLI and boto3, pinned; installed on first use).
PY = "$$(scripts/deploy-tools.sh)/python"
# `iat` as every target runs it (demo, run-query, report, status): one build (profile `cli`,
# target/cli/iat), shared by all of them.
IAT = $(CARGO) run --profile cli --quiet -p iat-cli --
SERVE_STORE ?= sqlite:./iat-data/demo/iat.db
# The stack's output KEY, read when a target needs it.
output = $$($(PY) scripts/stack.py outputs $(STACK) | sed -n 's/^$(1)=//p')

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

demo: ## Generate an organisation's day of CloudTrail, ingest it locally, show its alerts, export and query it
	$(IAT) demo

serve: ## Open the web console at http://127.0.0.1:8080/ on the demo's data (SERVE_STORE=... for another store)
	$(IAT) --store $(SERVE_STORE) serve

test: ## Run every test (moto and headless Chromium installed, moto started and stopped), lint the template, deploy it to moto, check glibc
	scripts/install-browser.sh
	scripts/with-moto.sh scripts/test.sh
	scripts/validate.sh
	scripts/with-moto.sh "$$(scripts/deploy-tools.sh)/python" scripts/deploy-check.py target/debug/iat
	scripts/check-glibc.sh target/debug/tracker target/debug/alerter target/debug/exporter target/debug/report target/debug/ingester target/debug/alarm

bench: ## Run the benchmarks (moto started for the alerter's) and append figures to bench/results.jsonl
	$(CARGO) build --profile cli --quiet -p iat-cli -p iat-sim -p iat-bench
	$(CARGO) build --release --quiet -p iat-lambda
	scripts/build-lambda.sh $(ARCH)
	scripts/with-moto.sh target/cli/iat-bench --results bench/results.jsonl $(BENCH_ARGS)

build: ## Build the Lambda functions for provided.al2023 into target/lambda/ (ARCH=x86_64|arm64)
	scripts/build-lambda.sh $(ARCH)

check-glibc: ## Check the built functions need at most glibc 2.34 (provided.al2023)
	scripts/check-glibc.sh target/lambda/*/bootstrap

validate: ## Lint infra/template.yaml offline: cfn-lint and sam validate --lint
	scripts/validate.sh

deploy: build ## Build, then create or update the stack (parameters from the environment or deploy.env)
	STACK=$(STACK) scripts/deploy.sh

deploy-members: ## The reader role (and real-time forwarding) in every member account: a service-managed StackSet [MEMBER_OUS=ou-..] [MEMBER_REGIONS=eu-west-1,..]
	$(PY) scripts/stack.py deploy-members $(STACK)

init: ## After the first deploy: backfill 90 days (a trail's: BACKFILL_DAYS, queued for the ingester), then export them
	$(PY) scripts/stack.py init $(STACK) $(if $(BACKFILL_DAYS),--backfill-days $(BACKFILL_DAYS))

status: ## The stack, its functions' last day, firing alarms, and each stream's checkpoint and last error
	$(PY) scripts/stack.py status $(STACK)
	$(IAT) status \
		--store "dynamodb:$(call output,EventsTableName),$(call output,ControlTableName)"

events: ## Search the stack's events, recent days from its table and older ones from the lake on Athena: make events ARGS="--actor alice --since 60d"
	$(IAT) events $(ARGS) \
		--store "dynamodb:$(call output,EventsTableName),$(call output,ControlTableName)" \
		$$(days="$(call output,RetentionDays)"; [ -z "$$days" ] || echo "--retention-days $$days") \
		--athena-database "$(call output,AthenaDatabase)" --athena-workgroup "$(call output,AthenaWorkGroup)"

trail-policy: ## With TRAIL_BUCKET deployed: the bucket-policy, key-policy and notification to add in the trail's account
	$(PY) scripts/stack.py trail-policy $(STACK)

FUNCTION ?=
logs: ## Tail and follow the functions' logs (FUNCTION=tracker|alerter|exporter|report|ingester|alarm for one)
	SAM_CLI_TELEMETRY=0 "$$(scripts/deploy-tools.sh)/sam" logs --stack-name $(STACK) --tail \
		$(if $(FUNCTION),--name $(shell echo $(FUNCTION) | sed 's/./\U&/')Function)

test-alerts: ## Send one synthetic admin-policy event through the deployed alerter (an e-mail follows)
	$(PY) scripts/stack.py test-alerts $(STACK)

destroy: ## Delete the stack (asks first; the tables and the bucket are kept)
	@printf 'Delete stack %s? Its DynamoDB tables and S3 bucket are kept. Type the stack name: ' '$(STACK)'; \
		read answer; [ "$$answer" = '$(STACK)' ] || { echo 'not deleted'; exit 1; }
	SAM_CLI_TELEMETRY=0 "$$(scripts/deploy-tools.sh)/sam" delete --stack-name $(STACK) --no-prompts

Q ?= daily_summary
DAYS ?= 7
FORMAT ?= table
run-query: ## Run a catalogue query: make run-query Q=failed_auth [DAYS=7] [FORMAT=table|json|csv] [IAT_LAKE=dir] [ATHENA=1 for the stack's] [SOURCE=trail: the organisation trail on Athena]
ifeq ($(SOURCE),trail)
	$(IAT) query $(Q) --days $(DAYS) --format $(FORMAT) --source trail \
		--athena-database "$(call output,AthenaDatabase)" --athena-workgroup "$(call output,AthenaWorkGroup)" \
		--trail-table "$(call output,TrailTable)"
else ifdef ATHENA
	$(IAT) query $(Q) --days $(DAYS) --format $(FORMAT) \
		--athena-database "$(call output,AthenaDatabase)" --athena-workgroup "$(call output,AthenaWorkGroup)"
else
	$(IAT) query $(Q) --days $(DAYS) --format $(FORMAT)
endif

report: ## The weekly denied-calls report over the local lake [IAT_LAKE=dir]
	$(IAT) report

check: lint ## Formatting and lints
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean: ## Remove build output, tools and local data
	$(CARGO) clean
	rm -rf .tools iat-data
