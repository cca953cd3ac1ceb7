#!/usr/bin/env bash
# `make bench`: the Go benchmarks that the README quotes, then the loopback
# load run. Everything targets 127.0.0.1 only, is bounded, and stops by
# itself. BENCHTIME and LOAD_N scale the run (defaults: 1s, 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-1s}"
LOAD_N="${LOAD_N:-20000}"
source test/redis.sh

echo "== one evaluation vs the raw prepared OPA query (gatekeeper/opa)"
go test -run '^$' -bench 'Evaluate|RawPreparedQuery|PreparePerEvaluation' -benchmem -benchtime "$BENCHTIME" ./gatekeeper/opa/

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

echo "== loopback load run: durable acknowledgement vs bare gin handler"
go run ./test/loadrun -n "$LOAD_N" -c 32

# The scale figures: the real binary on bbolt and on Redis in one run, a
# fake GitHub that counts calls and answers 304 to a matching If-None-Match
# (test/scale_test.go, test/budget_test.go). A few minutes.
echo "== GitHub budget and memory at scale, bbolt vs Redis (test/; targets: a pass over 1,000 open pull requests ≤ 60 s and ≤ 100 rate-limited calls with nothing changed; ≤ 10 calls an hour of an idle pull request; ≤ 2 reads per event; ≤ 150 MiB)"
GATEKEEPER_SCALE=1 go test -count=1 -timeout 40m -run 'TestScaleFigures|TestMixFigures|TestGitHubBudget' -v ./test/ |
	grep -E 'FIGURE|^(---|ok|FAIL|PASS)' | sed -e 's/^ *[a-z_]*_test.go:[0-9]*: FIGURE /  /'
