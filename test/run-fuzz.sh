#!/usr/bin/env bash
# Runs every Fuzz target in the module for FUZZTIME (default 5s) each.
# Go fuzzes one target per `go test` invocation, hence the loop.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-5s}"
count=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($FUZZTIME)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; exit 1; }
    tail -1 /tmp/fuzz.$$.log
    count=$((count + 1))
  done
done
rm -f /tmp/fuzz.$$.log
echo "fuzzed $count targets"
