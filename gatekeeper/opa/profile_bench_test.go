package opa

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
)

// BenchmarkPolicyCounts is one evaluation of the busy release input by the
// Engine's prepared query (precomputed rules in place), with the counts of
// OPA's evaluator beside the time: expressions evaluated (OPA's profiler),
// rule index lookups (one per reference to a rule or call of a function,
// cache hit or not), builtin calls, plugs and rule cache hits and misses.
// The counts do not depend on the machine's load, so they compare two
// policies where the time on a shared machine cannot. With
// GATEKEEPER_PROFILE=N it also prints the N expressions evaluated most
// often (GATEKEEPER_PROFILE_BY=time: the N slowest, which on a shared
// machine is mostly noise).
func BenchmarkPolicyCounts(b *testing.B) {
	ctx := context.Background()
	p := load(b, policiesDir).cur.Load().good
	v, err := inputValue(busyRelease())
	if err != nil {
		b.Fatal(err)
	}

	prof := profiler.New()
	m := metrics.New()
	if _, err := p.query.Eval(ctx, rego.EvalParsedInput(v), rego.EvalVirtualCache(p.pre.newCache()),
		rego.EvalQueryTracer(prof), rego.EvalMetrics(m), rego.EvalInstrument(true)); err != nil {
		b.Fatal(err)
	}
	stats := prof.ReportTopNResults(-1, []string{"total_time_ns"})
	exprs := 0
	for _, s := range stats {
		exprs += s.NumEval
	}
	counted := func(name string) float64 {
		switch x := m.All()[name].(type) {
		case uint64:
			return float64(x)
		case map[string]any:
			if n, ok := x["count"].(int64); ok {
				return float64(n)
			}
		}
		return 0
	}
	var n int
	if _, err := fmt.Sscan(os.Getenv("GATEKEEPER_PROFILE"), &n); err == nil && n > 0 {
		printProfile(stats, n, os.Getenv("GATEKEEPER_PROFILE_BY") == "time")
	}

	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := p.run(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(exprs), "exprs/op")
	b.ReportMetric(counted("histogram_eval_op_rule_index"), "rule-index/op")
	b.ReportMetric(counted("histogram_eval_op_builtin_call"), "builtins/op")
	b.ReportMetric(counted("histogram_eval_op_plug"), "plugs/op")
	b.ReportMetric(counted("counter_eval_op_virtual_cache_hit"), "cache-hits/op")
	b.ReportMetric(counted("counter_eval_op_virtual_cache_miss"), "cache-misses/op")
}

// printProfile prints the n expressions of stats evaluated most often (or,
// byTime, the n slowest), with where they are.
func printProfile(stats []profiler.ExprStats, n int, byTime bool) {
	sorted := slices.Clone(stats)
	slices.SortStableFunc(sorted, func(a, b profiler.ExprStats) int {
		if byTime {
			return cmp.Compare(b.ExprTimeNs, a.ExprTimeNs)
		}
		return cmp.Compare(b.NumEval+b.NumRedo, a.NumEval+a.NumRedo)
	})
	for i, s := range sorted {
		if i >= n {
			break
		}
		text := string(s.Location.Text)
		if len(text) > 70 {
			text = text[:70]
		}
		fmt.Printf("%8d ns eval %4d redo %4d  %-24s %s\n", s.ExprTimeNs, s.NumEval, s.NumRedo, s.Location.String(), text)
	}
}
