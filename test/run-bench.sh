#!/usr/bin/env bash
# `make bench`: the Go benchmarks that the README quotes, then the loopback
# pinned load run, the opa run --server anchor, and last the issue 10 table
# (figure, anchor, ratio, target, held) of this run. Everything targets
# 127.0.0.1 only, is bounded, and stops by itself. BENCHTIME, LOAD_N and
# LOAD_ROUNDS scale the run (defaults: 1s, 3000 requests per target and
# round, 3 rounds); the whole run stays well under 15 minutes on 2 cores.
# The pinned steps need 2 cores and taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-1s}"
LOAD_N="${LOAD_N:-3000}"
LOAD_ROUNDS="${LOAD_ROUNDS:-3}"
source test/redis.sh

tmp=$(mktemp -d)
opa_pid=""
cleanup() {
	if [ -n "$opa_pid" ]; then kill "$opa_pid" 2>/dev/null || true; wait "$opa_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
FIGURES=$tmp/figures
: >"$FIGURES"

# figure NAME BENCH COLUMN: from go test's output on stdin (passed through),
# appends "NAME value" to the figures: the median over the lines of
# benchmark BENCH of the value in front of unit COLUMN (ns/op, evals/s, …).
figure() {
	local out
	out="$(cat)"
	echo "$out"
	echo "$out" | awk -v b="$2" -v unit="$3" -v name="$1" '
		$1 ~ "^Benchmark" b "(-[0-9]+)?$" { for (i = 3; i <= NF; i++) if ($i == unit) v[n++] = $(i - 1) }
		END {
			if (n == 0) exit
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			print name, v[int((n - 1) / 2)]
		}' >>"$FIGURES"
}

echo "== one evaluation vs the raw prepared OPA query (gatekeeper/opa)"
# Issue 10's figures: one evaluation on the busy-release input
# (gatekeepertest.BusyRelease), and the same through the raw prepared query
# given a map input. BenchmarkEvaluate and BenchmarkRawPreparedQuery (the
# recorded pull request's input) are printed beside them.
go test -run '^$' -bench 'Evaluate$|EvaluateBusyRelease$|RawPreparedQuery' -benchmem -benchtime "$BENCHTIME" -count 3 ./gatekeeper/opa/ |
	figure eval_default_ns 'EvaluateBusyRelease' ns/op | figure eval_raw_ns 'RawPreparedQueryMapInput' ns/op
go test -run '^$' -bench 'EvaluateEvalInput|PreparePerEvaluation' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/opa/

echo "== one whole evaluation (bbolt load + input + prepared eval) vs the raw query, busy release evidence (test/)"
go test -run '^$' -bench 'Evaluation|RawPreparedQuery' -benchmem -benchtime "$BENCHTIME" ./test/

# ratio prints, for each benchmark named, its ns/op on 5,000 comments over
# its ns/op on 10, from go test's output on stdin.
ratio() {
	local out
	out="$(cat)"
	echo "$out"
	for bench in "$@"; do
		echo "$out" | awk -v b="$bench" '
			$1 ~ "^Benchmark" b "/comments=10-" { small = $3 }
			$1 ~ "^Benchmark" b "/comments=5000-" { big = $3 }
			END { if (small > 0) printf "%s: 5,000 comments cost %.2fx of 10 (target at most 2x)\n", b, big / small }'
	done
}

echo "== one comment webhook and one evaluation on a pull request with 10 comments vs 5,000 (test/; target: at most 2x)"
go test -run '^$' -bench 'Comment(Webhook|Evaluation)' -benchmem -benchtime "$BENCHTIME" ./test/ | ratio CommentWebhook CommentEvaluation

echo "== one GitHub source Gather on 10 comments vs 5,000, fake GitHub on loopback (gatekeeper/githubapi)"
go test -run '^$' -bench 'GatherComments' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/githubapi/ | ratio GatherComments

echo "== the durable write path (gatekeeper/boltstore)"
go test -run '^$' -bench 'Record|Evidence' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/boltstore/

echo "== the durable write path, bbolt vs Redis (appendonly yes, appendfsync always) in one run (gatekeeper/redisstore)"
go test -run '^$' -bench 'Stores' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/redisstore/

echo "== receiver in process (webhooks): full path on the fake store vs bare handler"
go test -run '^$' -bench 'Acknowledge|BareHandler' -benchmem -benchtime "$BENCHTIME" ./webhooks/

echo "== enrichment from a fake Jenkins and GitHub on loopback"
go test -run '^$' -bench 'Enrich|Gather$|Publish' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/jenkinsapi/ ./gatekeeper/githubapi/

# The scale figures: the real binary on bbolt and on Redis in one run, a
# fake GitHub that counts calls and answers 304 to a matching If-None-Match
# (test/scale_test.go, test/budget_test.go). A few minutes.
echo "== GitHub budget and memory at scale, bbolt vs Redis (test/; targets: a pass over 1,000 open pull requests ≤ 60 s and ≤ 100 rate-limited calls with nothing changed; ≤ 10 calls an hour of an idle pull request; ≤ 2 reads per event; ≤ 150 MiB)"
GATEKEEPER_SCALE=1 go test -count=1 -timeout 40m -run 'TestScaleFigures|TestMixFigures|TestGitHubBudget' -v ./test/ |
	grep -E 'FIGURE|^(---|ok|FAIL|PASS)' | sed -e 's/^ *[a-z_]*_test.go:[0-9]*: FIGURE /  /'

# Three rounds, medians: each round is one end-to-end run and then the
# Engine alone, seconds apart, so a neighbour's burst weighs on one side of
# one round only.
echo "== end to end: 1,000 pull requests, one opened delivery each from 16 senders, real policy and bbolt, dry run, vs the Engine alone on the same inputs (test/; medians of 3)"
go test -run '^$' -bench 'EndToEnd' -benchtime 1x -count 3 ./test/ |
	figure e2e_evals_per_s EndToEnd evals/s | figure e2e_inproc_per_s EndToEnd inproc-evals/s

echo "== pinned load run: each server a process on CPU 0, the generator on CPU 1, 16 connections, the 28 KB pull_request (test/loadrun)"
go build -o "$tmp/loadrun" ./test/loadrun
taskset -c 1 "$tmp/loadrun" -pinned -n "$LOAD_N" -c 16 -rounds "$LOAD_ROUNDS" -figures "$FIGURES"

echo "== decisions on one core: in process vs opa run --server (the opa of go.mod's version, built once into a cache)"
OPA_VERSION=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
OPA_TOOLS=${OPA_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/release-gatekeeper/opa-$OPA_VERSION}
if [ ! -x "$OPA_TOOLS/opa" ] || ! "$OPA_TOOLS/opa" version | grep -qx "Version: ${OPA_VERSION#v}"; then
	echo "building opa $OPA_VERSION with go install into $OPA_TOOLS (minutes, once)" >&2
	mkdir -p "$OPA_TOOLS"
	(cd / && GOBIN=$OPA_TOOLS GOFLAGS=-trimpath CGO_ENABLED=0 go install -ldflags="-s -w" "github.com/open-policy-agent/opa@$OPA_VERSION")
fi
go test -c -o "$tmp/opa.test" ./gatekeeper/opa/
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The policy files the Engine loads (no *_test.rego), data included.
taskset -c 0 "$OPA_TOOLS/opa" run --server --addr "127.0.0.1:$port" --log-level error \
	$(ls policies/*.rego policies/*.yaml | grep -v '_test\.rego$') >"$tmp/opa.log" 2>&1 &
opa_pid=$!
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
	sleep 0.1
done
# Three rounds, each the server then in process, so that whatever else
# the machine does weighs on both alike; medians.
for round in 1 2 3; do
	(cd gatekeeper/opa && OPA_SERVER_URL="http://127.0.0.1:$port" taskset -c 1 "$tmp/opa.test" \
		-test.run '^$' -test.bench '^BenchmarkOPAServer$' -test.cpu 1 -test.benchtime 2s)
	(cd gatekeeper/opa && taskset -c 0 "$tmp/opa.test" \
		-test.run '^$' -test.bench '^BenchmarkEvaluate$' -test.cpu 1 -test.benchtime 2s)
done | figure decide_opa_server_ns OPAServer ns/op | figure decide_inproc_ns Evaluate ns/op
kill "$opa_pid"; wait "$opa_pid" 2>/dev/null || true; opa_pid=""
awk '$1 == "decide_opa_server_ns" { print "decide_opa_server_per_s", 1e9 / $2 } $1 == "decide_inproc_ns" { print "decide_inproc_per_s", 1e9 / $2 }' "$FIGURES" >>"$FIGURES.per_s"
cat "$FIGURES.per_s" >>"$FIGURES"

echo
echo "== issue 10: figure, anchor figure in the same run, ratio, target"
go run ./test/benchtable -run "$(date -u '+%Y-%m-%d %H:%M UTC'), $(git describe --tags --always --dirty 2>/dev/null || echo dev), $(nproc) cores" "$FIGURES"
