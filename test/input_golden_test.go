package test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestInputGoldenBenchmark proves the benchmark evidence's policy input
// keeps the JSON the hand-written map builder gave it (recorded in
// testdata/golden/input-benchmark.json before the typed gatekeeper.Input
// replaced that builder).
func TestInputGoldenBenchmark(t *testing.T) {
	opts := gatekeeper.InputOptions{Now: time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC), Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, StatusContext: "release-gate"}
	got, err := json.MarshalIndent(gatekeeper.BuildInput(releaseEvidence(), opts), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	const path = "testdata/golden/input-benchmark.json"
	if os.Getenv("UPDATE_INPUT_GOLDEN") != "" {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !reflect.DeepEqual(decode(got), decode(want)) {
		t.Errorf("benchmark input differs from the recorded document:\ngot  %s\nwant %s", got, want)
	}
}
