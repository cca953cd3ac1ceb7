package boltstore

import (
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

// BenchmarkEvaluationWrites: one evaluation's writes on a busy release
// pull request, three transactions against one Settle (see
// storetest.EvaluationWrites).
func BenchmarkEvaluationWrites(b *testing.B) {
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	storetest.EvaluationWrites(b, openBench(b, []gatekeeper.PullKey{key}), key, benchStart)
}
