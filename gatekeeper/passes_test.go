package gatekeeper_test

import (
	"encoding/json"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestSameVerdictComparesPasses: a replay that names other passes is not
// the same result; an empty list and none are the same.
func TestSameVerdictComparesPasses(t *testing.T) {
	t.Parallel()
	a := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval by QA"}, Passes: []string{"coverage 84.2% ≥ 80%"}}
	b := a
	b.Passes = []string{"coverage 84.2% ≥ 82%"}
	if gatekeeper.SameVerdict(a, b) {
		t.Error("decisions with other passes read as the same verdict")
	}
	c, d := a, a
	c.Passes, d.Passes = nil, []string{}
	if !gatekeeper.SameVerdict(c, d) {
		t.Error("no passes and an empty list read as different verdicts")
	}
}

// TestDecisionRecordKeepsPasses: the stored JSON of a decision carries
// what passes, and a decision without any stores none.
func TestDecisionRecordKeepsPasses(t *testing.T) {
	t.Parallel()
	rec := gatekeeper.DecisionRecord{Decision: gatekeeper.Decision{State: gatekeeper.Success, Passes: []string{"no NOGO stands"}}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back gatekeeper.DecisionRecord
	if err := json.Unmarshal(b, &back); err != nil || len(back.Decision.Passes) != 1 || back.Decision.Passes[0] != "no NOGO stands" {
		t.Errorf("record read back %+v (%v) from %s", back.Decision, err, b)
	}
}
