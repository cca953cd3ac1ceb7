package test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// releaseEvidence is a busy release pull request on the day (see
// gatekeepertest.BusyRelease).
func releaseEvidence() *gatekeeper.Evidence { return gatekeepertest.BusyRelease() }

// BenchmarkEvaluation is one worker evaluation without the network: load
// the evidence from a real bbolt file, build the policy input, evaluate the
// prepared policy. BenchmarkRawPreparedQuery is the floor: OPA alone on the
// same input, prepared the plain way.
func BenchmarkEvaluation(b *testing.B) {
	ctx := context.Background()
	store, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ev := releaseEvidence()
	if err := store.Record(ctx, "seed", []gatekeeper.PullKey{ev.Key}, func(cur *gatekeeper.Evidence) { *cur = *ev.Clone() }); err != nil {
		b.Fatal(err)
	}
	engine, err := opa.Load(ctx, "../policies")
	if err != nil {
		b.Fatal(err)
	}
	opts := gatekeeper.InputOptions{Now: time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC), Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, StatusContext: "release-gate"}
	check, _ := engine.Evaluate(ctx, gatekeeper.BuildInput(ev, opts))
	b.Logf("decision on the benchmark evidence: %s %v %v", check.State, check.Reasons, check.Waiting)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		loaded, err := store.Evidence(ctx, ev.Key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := engine.Evaluate(ctx, gatekeeper.BuildInput(loaded, opts)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawPreparedQuery(b *testing.B) {
	ctx := context.Background()
	pq, err := rego.New(rego.Query("data.gatekeeper.decision"), rego.Load([]string{"../policies"}, nil)).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	opts := gatekeeper.InputOptions{Now: time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC), Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, StatusContext: "release-gate"}
	input := gatekeeper.BuildInput(releaseEvidence(), opts)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := pq.Eval(ctx, rego.EvalInput(input)); err != nil {
			b.Fatal(err)
		}
	}
}

// busyReleaseInput is the policy input of releaseEvidence, as the worker
// builds it.
func busyReleaseInput() *gatekeeper.Input {
	return gatekeeper.BuildInput(releaseEvidence(), gatekeepertest.BusyReleaseOptions())
}

// cpuTime is the CPU time the process has used, user and system, garbage
// collection included: on a shared machine it measures an evaluation's
// cost where wall time measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU milliseconds per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkPolicyEvaluate is one evaluation of the default policy by the
// Engine on the busy release input, the input built once: the policy's own
// cost (target: at most 0.6 ms of CPU).
func BenchmarkPolicyEvaluate(b *testing.B) {
	ctx := context.Background()
	engine, err := opa.Load(ctx, "../policies")
	if err != nil {
		b.Fatal(err)
	}
	in := busyReleaseInput()
	d, err := engine.Evaluate(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("decision: %s %v %v", d.State, d.Reasons, d.Waiting)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := engine.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
