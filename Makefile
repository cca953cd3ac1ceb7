# Release gatekeeper. `make help` lists the targets.
SHELL := /usr/bin/env bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 5s
# A development secret for `make run` only; real deployments set their own.
DEV_SECRET ?= dev-secret-do-not-use-in-production

.PHONY: help run build test bench fuzz lint policy-test docker chart-policies clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the gatekeeper on its embedded defaults (127.0.0.1:8080, bbolt store, dry run, development secret)
	GATEKEEPER_ADDR=$${GATEKEEPER_ADDR:-127.0.0.1:8080} \
	GATEKEEPER_WEBHOOK_SECRET=$${GATEKEEPER_WEBHOOK_SECRET:-$(DEV_SECRET)} \
	GATEKEEPER_GATED_BRANCHES=$${GATEKEEPER_GATED_BRANCHES:-staging:master,changes:master} \
	go run -ldflags '$(LDFLAGS)' ./cmd/gatekeeper serve

build: ## build bin/gatekeeper
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/gatekeeper ./cmd/gatekeeper

test: ## run every test: format, vet, unit, policy, end-to-end, race detector, short fuzzing
	bash test/run-tests.sh

bench: ## run the Go benchmarks and the loopback load run; figures go in README.md
	bash test/run-bench.sh

fuzz: ## fuzz every parser for FUZZTIME each (default 5s)
	FUZZTIME=$(FUZZTIME) bash test/run-fuzz.sh

lint: ## gofmt, go vet, and the policy files formatted as `opa fmt` would
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt would change the files above'; exit 1; }
	go vet ./...
	go test -count=1 -run 'TestPoliciesAreFormatted' -v ./gatekeeper/opa/ | grep -q -- '--- PASS: TestPoliciesAreFormatted'

policy-test: ## run the Rego unit tests in policies/
	go run ./cmd/gatekeeper policy test policies

docker: ## build the container image (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t release-gatekeeper:$(VERSION) .

# The Helm chart's copy of the policy folder, which its ConfigMap is made of.
CHART_POLICIES := deploy/helm/release-gatekeeper/files/policies

chart-policies: ## copy policies/ (all but *.md) into the Helm chart; `make test` fails while the copy differs
	@test -z "$$(find policies -mindepth 1 -type d)" || { echo 'policies/ has folders: a ConfigMap holds files only'; exit 1; }
	rm -rf $(CHART_POLICIES) && mkdir -p $(CHART_POLICIES)
	find policies -maxdepth 1 -type f ! -name '*.md' -exec cp {} $(CHART_POLICIES)/ \;

clean: ## remove build output and the local store
	rm -rf bin data
