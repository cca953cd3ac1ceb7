package opa

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// benchInput is a realistic policy input: the recorded pull request with
// a history of two heads, reviews, checks on both heads, three sources,
// and every later evidence section present.
func benchInput(b *testing.B) *gatekeeper.Input {
	b.Helper()
	ev := evidence(b)
	old := readPull(b, "github/pull_request.opened.json")
	old.HeadSHA, old.UpdatedAt = "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0", old.UpdatedAt.Add(-time.Hour)
	ev.Heads = append([]gatekeeper.HeadChange{{SHA: old.HeadSHA, At: now.Add(-2 * time.Hour)}}, ev.Heads...)
	for i, user := range []string{"sre-dan", "qa-carol", "vp-erin", "dev-frank"} {
		ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Received: now, Review: &gatekeeper.Review{
			ID: int64(300 + i), User: user, State: "APPROVED", CommitID: ev.HeadSHA(), SubmittedAt: now.Add(-time.Duration(i) * time.Minute),
		}})
	}
	for _, name := range []string{"ci/lint", "ci/unit", "sonarqube", "snyk", "codecov/patch"} {
		for _, sha := range []string{old.HeadSHA, ev.HeadSHA()} {
			ev.Apply(gatekeeper.Event{Name: "status", Received: now, Check: &gatekeeper.Check{Name: name, SHA: sha, Kind: "status", State: "success", UpdatedAt: now}})
		}
	}
	ev.Sources["jenkins"] = gatekeeper.SourceStatus{OK: true, CheckedAt: now}
	ev.Sources["zenhub"] = gatekeeper.SourceStatus{OK: true, CheckedAt: now}
	return input(complete(b, ev))
}

// BenchmarkEvaluate is the Engine's hot path: one evaluation of the
// prepared query, input conversion and strict decoding included.
func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	e := load(b, policiesDir)
	in := benchInput(b)
	if d, err := e.Evaluate(ctx, in); err != nil || d.State != gatekeeper.Success {
		b.Fatalf("Evaluate = %+v, %v; want success", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateEvalInput is the Engine's own prepared query given the
// input with rego.EvalInput, which round-trips it through JSON, instead of
// ast.InterfaceToValue + rego.EvalParsedInput: the choice Engine.Evaluate
// makes is measured here.
func BenchmarkEvaluateEvalInput(b *testing.B) {
	ctx := context.Background()
	q := load(b, policiesDir).cur.Load().good.query
	in := benchInput(b)
	b.ReportAllocs()
	for b.Loop() {
		rs, err := q.Eval(ctx, rego.EvalInput(in))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decode(rs); err != nil {
			b.Fatal(err)
		}
	}
}

// rawOptions are the rego options of the default policy, loaded the plain
// way (rego.Load), without the Engine.
func rawOptions(b *testing.B) []func(*rego.Rego) {
	b.Helper()
	return []func(*rego.Rego){
		rego.Query(Query),
		rego.Load([]string{policiesDir}, func(_ string, info fs.FileInfo, _ int) bool {
			return testFile(info.Name())
		}),
	}
}

// BenchmarkRawPreparedQuery is the floor: the same policy prepared directly
// with rego.New(...).PrepareForEval and evaluated with rego.EvalInput.
func BenchmarkRawPreparedQuery(b *testing.B) {
	ctx := context.Background()
	in := benchInput(b)
	pq, err := rego.New(rawOptions(b)...).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := pq.Eval(ctx, rego.EvalInput(in))
		if err != nil || len(rs) != 1 {
			b.Fatal(rs, err)
		}
	}
}

// BenchmarkPreparePerEvaluation is what the Engine avoids: compiling and
// preparing the (already parsed) policy for every evaluation.
func BenchmarkPreparePerEvaluation(b *testing.B) {
	ctx := context.Background()
	in := benchInput(b)
	snap, err := readSnapshot(policiesDir, false)
	if err != nil {
		b.Fatal(err)
	}
	res, err := snap.load()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		opts := []func(*rego.Rego){rego.Query(Query), rego.Store(inmem.NewFromObject(res.Documents)), rego.StrictBuiltinErrors(true)}
		for _, m := range res.ParsedModules() {
			opts = append(opts, rego.ParsedModule(m))
		}
		pq, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			b.Fatal(err)
		}
		v, err := pq.Eval(ctx, rego.EvalInput(in))
		if err != nil || len(v) != 1 {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkReloadUnchanged is one Watch tick on an unchanged folder.
func BenchmarkReloadUnchanged(b *testing.B) {
	ctx := context.Background()
	e := load(b, policiesDir)
	b.ReportAllocs()
	for b.Loop() {
		if changed, err := e.Reload(ctx); changed || err != nil {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkReloadChanged is one Watch tick after a release manager's edit
// of data.yaml: read and hash the folder, compile, prepare and
// smoke-evaluate the new revision, then run the folder's own Rego tests
// before serving it. The edit (a comment naming the iteration) happens
// inside the loop; it costs a file write.
func BenchmarkReloadChanged(b *testing.B) {
	ctx := context.Background()
	dir := copyPolicies(b)
	e := load(b, dir)
	path := filepath.Join(dir, "data.yaml")
	orig, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := os.WriteFile(path, fmt.Appendf(slices.Clip(orig), "# edit %d\n", i), 0o644); err != nil {
			b.Fatal(err)
		}
		if changed, err := e.Reload(ctx); !changed || err != nil {
			b.Fatal(changed, err)
		}
	}
	if e.Status().Tests == 0 {
		b.Fatal("no tests ran")
	}
}
