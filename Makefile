# gp-remediation: the Arrakis Gateway Proxy's alarm-driven remediation functions.
# `make demo` and `make test` do their own set-up on a fresh machine.

SHELL := /bin/bash
FUNCTIONS := no-tasks queue-depth dlq memory-high approve
GO ?= go
HOST_ARCH := $(shell $(GO) env GOARCH)
# Every module is compiled without inlining (-l) but the standard library, the DLQ replay's
# hot path (pkg/rabbit) and the AMQP client, which keep the compiler's defaults: the rest
# waits on the network, and the smaller code keeps every zipped bootstrap under 5 MB (the S3
# client for report pictures cost queue-depth 240 KB). Later -gcflags patterns win.
BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w" "-gcflags=all=-l" "-gcflags=std=" \
	"-gcflags=github.com/arrakis/gp-remediation/pkg/rabbit=" "-gcflags=github.com/rabbitmq/...="
RIE := build/tools/aws-lambda-rie
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: all help build build-host tools services invoke gpr demo test test-unit test-infra lint bench clean

all: build

## help: this list (every target with a "## target:" comment)
help:
	@grep -h -E '^## [a-z-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z-]+): ?/\1\t/' | awk -F'\t' '{printf "  %-14s %s\n", $$1, $$2}'

## build: linux/arm64 bootstraps and zips for Lambda (build/<fn>/bootstrap, build/<fn>.zip)
build:
	@for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(BUILD_FLAGS) -o build/$$fn/bootstrap ./functions/$$fn || exit 1; \
	  $(GO) run ./cmd/zipfn -o build/$$fn.zip build/$$fn/bootstrap || exit 1; \
	  printf '%-12s %s\n' $$fn "$$(du -h build/$$fn.zip | cut -f1) zipped"; \
	done

## build-host: the same bootstraps for this machine, to run under the emulator
build-host:
	@for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(HOST_ARCH) $(GO) build $(BUILD_FLAGS) -o build/host/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

## tools: the Lambda emulator (a Go tool of this module) and dynalite (npm, under .tools/)
tools: $(RIE)
	@bash scripts/dynalite.sh install

$(RIE): go.mod go.sum
	$(GO) build -o $@ github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

## services: start RabbitMQ and PostgreSQL when they are not running
services:
	@bash scripts/services.sh

## invoke: FN=no-tasks EVENT=events/no-tasks/ingestor-alarm.json [SCENARIO=…] [SANDBOX=0 MODE=on]
invoke: build-host tools
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=no-tasks EVENT=events/no-tasks/ingestor-alarm.json" >&2; exit 2; }
	@$(GO) run ./cmd/invoke -fn $(FN) -event $(EVENT) $(if $(SCENARIO),-scenario $(SCENARIO))

## gpr: ARGS="restart worker" [APPLY=1] [JSON=1] [SCENARIO=…] a manual operation (pkg/ops) against the sandbox (SANDBOX=0: your AWS account)
gpr:
	@test -n "$(ARGS)" || { echo 'usage: make gpr ARGS="restart worker" [APPLY=1]' >&2; exit 2; }
	@$(GO) run ./cmd/gpr $(if $(filter 0,$(SANDBOX)),,-sandbox $(if $(SCENARIO),-scenario $(SCENARIO))) $(if $(APPLY),-apply) $(if $(JSON),-json) $(ARGS)

## demo: every function remediating simulated incidents, under the emulator, against the sandbox
demo: build-host tools services
	@$(GO) run ./cmd/demo

## test: lint, then every test (unit, sandbox adapters, real RabbitMQ/PostgreSQL/dynalite, end to end, CDK)
test: tools services build-host lint test-unit test-infra

## test-unit: go test -race for every package but infra
test-unit:
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /infra)

## test-infra: the CDK stack tests (synth assertions, cdk-nag)
test-infra:
	$(GO) test -count=1 -timeout 20m ./infra/...

## lint: gofmt, go vet, staticcheck
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: every benchmark, one table with ratios measured in the same run
bench: build build-host tools services
	@bash scripts/bench.sh

## clean: remove build/ and cdk.out/
clean:
	rm -rf build cdk.out

# Issue 14 (trust): the weekly digest function is built and zipped with the others; `make
# stats` prints the digest of an environment's ledger, or of the incidents `make demo` kept.
FUNCTIONS += digest
.PHONY: stats
## stats: ENV=staging (its ledger table; AWS credentials) or ENV=sandbox (after make demo): the digest
stats:
	@test -n "$(ENV)" || { echo "usage: make stats ENV=staging (or ENV=sandbox after make demo)" >&2; exit 2; }
	@$(GO) run ./cmd/stats -env $(ENV)

-include infra/infra.mk
