package opa

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// BenchmarkPolicyParts evaluates parts of the default policy on the busy
// release input (GATEKEEPER_PARTS, comma-separated rule names of package
// gatekeeper; GATEKEEPER_PARTS_DIR, another policy folder), precomputed
// rules as the Engine has them: where one evaluation's time goes.
func BenchmarkPolicyParts(b *testing.B) {
	parts := os.Getenv("GATEKEEPER_PARTS")
	if parts == "" {
		b.Skip("set GATEKEEPER_PARTS=reasons,waiting,...")
	}
	ctx := context.Background()
	dir := policiesDir
	if d := os.Getenv("GATEKEEPER_PARTS_DIR"); d != "" {
		dir = d
	}
	snap, err := readSnapshot(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	res, err := snap.load()
	if err != nil {
		b.Fatal(err)
	}
	v, err := inputValue(busyRelease())
	if err != nil {
		b.Fatal(err)
	}
	store := inmem.NewFromObject(res.Documents)
	compiler := ast.NewCompiler()
	compiler.Compile(res.ParsedModules())
	if compiler.Failed() {
		b.Fatal(compiler.Errors)
	}
	pre := precompute(ctx, compiler, store, time.Minute)
	for _, part := range strings.Split(parts, ",") {
		pq, err := rego.New(rego.Query("x = data.gatekeeper."+part), rego.Compiler(compiler), rego.Store(store), rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(part, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(v), rego.EvalVirtualCache(pre.newCache())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// BenchmarkPolicyVariants evaluates the busy release input by the Engine
// of each policy folder in GATEKEEPER_VARIANTS (comma-separated),
// interleaved in one loop, and reports each one's CPU per evaluation and
// its ratio to the first: how a policy edit changes the cost, measured on a
// shared machine.
func BenchmarkPolicyVariants(b *testing.B) {
	dirs := os.Getenv("GATEKEEPER_VARIANTS")
	if dirs == "" {
		b.Skip("set GATEKEEPER_VARIANTS=dir1,dir2,...")
	}
	ctx := context.Background()
	in := busyRelease()
	var ps []*prepared
	for _, d := range strings.Split(dirs, ",") {
		ps = append(ps, load(b, d).cur.Load().good)
	}
	spent := make([]time.Duration, len(ps))
	for b.Loop() {
		for i, p := range ps {
			t0 := cpuTime()
			if _, err := p.eval(ctx, in); err != nil {
				b.Fatal(err)
			}
			spent[i] += cpuTime() - t0
		}
	}
	for i := range ps {
		b.ReportMetric(float64(spent[i])/float64(b.N)/1e6, fmt.Sprintf("v%d-cpu-ms/op", i))
		if i > 0 {
			b.ReportMetric(float64(spent[i])/float64(spent[0]), fmt.Sprintf("v%d/v0", i))
		}
	}
}
