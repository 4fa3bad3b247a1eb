# infra.mk: the CDK targets, included by the root Makefile (`include infra/infra.mk`).
#
#   make synth ENV=staging          build the functions, synthesize cdk.out (cdk-nag runs; findings fail)
#   make diff ENV=staging           build, then show what a deploy would change (needs AWS credentials)
#   make deploy ENV=staging         build, then deploy arrakis-staging-gp-remediation
#   make cdk-bootstrap ENV=staging  once per account and region, before the first deploy
#   make invoke-remote FN=no-tasks EVENT=ingestor-alarm ENV=staging   (FN=approve: a signed sample, see README)
#                                   invoke the deployed function with events/<FN>/<EVENT>.json, print its Result
#
# The tests: `make test-infra` (root Makefile) runs ./infra/ (Node.js, no AWS, no Docker);
# cmd/invoke-remote's run with the unit tests.
# A missing or unknown ENV makes the app fail with the list of known environments (cdk.json).
# The CLI is installed once under .tools/ (git-ignored), never inside the Go module tree.

GO          ?= go
CDK_VERSION ?= 2.1149.0
CDK_DIR     := .tools/cdk
CDK         := $(CDK_DIR)/node_modules/.bin/cdk
CDK_STAMP   := $(CDK_DIR)/.installed-$(CDK_VERSION)

# Quiet the CLI's telemetry and jsii's Node.js version banners; --no-notices avoids a network
# fetch on every command.
CDK_RUN := CDK_DISABLE_CLI_TELEMETRY=true \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 \
	$(CDK) --no-notices
CDK_CTX = $(if $(ENV),-c env=$(ENV))

.PHONY: synth diff deploy cdk-bootstrap cdk-cli invoke-remote

$(CDK_STAMP):
	npm install --prefix $(CDK_DIR) --no-audit --no-fund --loglevel=error aws-cdk@$(CDK_VERSION)
	touch $@

## cdk-cli: the pinned AWS CDK CLI (npm, under .tools/)
cdk-cli: $(CDK_STAMP)

## synth: ENV=staging  synthesize the stack (cdk.out/), offline, no credentials
synth: build $(CDK_STAMP)
	$(CDK_RUN) synth $(CDK_CTX) --quiet
	@echo "synthesized: cdk.out/arrakis-$(ENV)-gp-remediation.template.json"

## diff: ENV=staging  the stack against what is deployed (needs AWS credentials)
diff: build $(CDK_STAMP)
	$(CDK_RUN) diff $(CDK_CTX)

## deploy: ENV=staging  deploy the stack (needs AWS credentials)
deploy: build $(CDK_STAMP)
	$(CDK_RUN) deploy $(CDK_CTX) --require-approval broadening

## cdk-bootstrap: ENV=staging  bootstrap the account for CDK (once per account and region)
cdk-bootstrap: build $(CDK_STAMP)
	$(CDK_RUN) bootstrap $(CDK_CTX)

## invoke-remote: ENV=staging FN=no-tasks EVENT=…  invoke a deployed function (dry-run unless its mode says so)
invoke-remote:
	$(GO) run ./cmd/invoke-remote -env "$(ENV)" -fn "$(FN)" -event "$(EVENT)"
