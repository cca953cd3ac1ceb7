#!/usr/bin/env bash
# `make test`: every check CI runs, from a clean clone with nothing installed
# by hand. Each step says what it does; the first failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "redis-server for the Redis store tests (test/redis.sh)"
source test/redis.sh
step "chromium for the browser tests (test/chromium.sh)"; source test/chromium.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "policy tests (gatekeeper policy test policies)"
go run ./cmd/gatekeeper policy test policies

step "unit, adapter and end-to-end tests, with the race detector"
# The policy packages compile and test the whole policy many times; under the
# race detector on a busy 2-core machine that outlasts go test's 10-minute default.
# Race reports also go to files, so that a failure ends with a short digest of
# each report (CI shows the end of the output).
racelogs=$(mktemp -d)
if ! GORACE="log_path=$racelogs/race" go test -race -count=1 -timeout 30m ./...; then
  for f in "$racelogs"/race.*; do
    [ -e "$f" ] || continue
    echo "== data race report $f (access lines, then the frames in this module and OPA):"
    grep -E '^(Write|Read|Previous|Goroutine)|releasegate/gatekeeper|open-policy-agent' "$f" | grep -v '^ *[/]' | head -24
  done
  exit 1
fi

step "Helm chart: lint and render (test/helm.sh)"; bash test/helm.sh

step "short fuzzing of every parser (FUZZTIME=${FUZZTIME:-3s} each)"
FUZZTIME="${FUZZTIME:-3s}" bash test/run-fuzz.sh
