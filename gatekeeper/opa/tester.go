package opa

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds each Rego test, as `opa test` does by default.
const testTimeout = 5 * time.Second

// Test runs the Rego unit tests (rules named test_*) of the policy folder
// dir and backs `gatekeeper policy test [DIR]`. It loads the same files
// the server serves plus *_test.rego, and gives the verdicts of `opa test`:
// it writes OPA's report to w, then one line "N passed, N failed" that CI
// reads. A test that fails, errors or is skipped (todo_test_*) counts as
// failed, because `opa test` exits non-zero for each of them. A folder that
// does not parse or compile returns an error and no counts. A folder
// without tests passes with "0 passed, 0 failed", as `opa test` does.
//
// The report is that of `opa test --var-values`: each failing test is
// listed with its file and line, then, under FAILURES, the expression that
// failed with the values of the variables in it (for example
// `d.reasons == ["coverage 78.5% below 80%"]` with the reasons d really
// had), so that a release manager sees expected against actual. With
// verbose it also lists the passing tests and the evaluation trace of each
// failure. Results are reported in file and line order, whatever order
// OPA's parallel runner finished them in, so two runs give the same report.
//
// Unlike the server's evaluation (see Engine), tests run without strict
// builtin errors, exactly as `opa test` does. The Engine runs the same
// tests, through the same code, before it serves a revision.
func Test(ctx context.Context, dir string, w io.Writer, verbose bool) (passed, failed int, err error) {
	snap, err := readSnapshot(dir, true)
	if err != nil {
		return 0, 0, err
	}
	results, err := snap.runTests(ctx, testFilter{})
	if err != nil {
		return 0, 0, fmt.Errorf("testing policy folder %s: %w", dir, err)
	}
	run := summarize(results)
	if run.failed > 0 {
		// Run the failing tests again, traced, for the failure lines and
		// the values: tracing every test would cost several times the time
		// and memory of the plain run.
		if err := snap.traceFailures(ctx, results); err != nil {
			return 0, 0, fmt.Errorf("testing policy folder %s: %w", dir, err)
		}
	}
	ordered := make(chan *tester.Result, len(results))
	for _, r := range results {
		ordered <- r
	}
	close(ordered)
	reporter := tester.PrettyReporter{Output: w, Verbose: verbose, FailureLine: true, LocalVars: true}
	if err := reporter.Report(ordered); err != nil {
		return 0, 0, fmt.Errorf("reporting tests of %s: %w", dir, err)
	}
	if _, err := fmt.Fprintf(w, "%d passed, %d failed\n", run.passed, run.failed); err != nil {
		return run.passed, run.failed, fmt.Errorf("reporting tests of %s: %w", dir, err)
	}
	return run.passed, run.failed, nil
}

// testRun is the outcome of one run of a folder's Rego tests.
type testRun struct {
	passed, failed int
	// failing names the tests that failed, errored or were skipped, in
	// file and line order, without their package ("test_x", not
	// "data.gatekeeper_test.test_x").
	failing []string
	// firstAt is "file:line" of the first test that did not pass.
	firstAt string
}

// summarize counts results the way `opa test` judges them: anything but a
// pass (a failure, an error, a skipped todo_test_) is a failure.
func summarize(results []*tester.Result) testRun {
	var run testRun
	for _, r := range results {
		if r.Pass() {
			run.passed++
		} else {
			run.failed++
			run.failing = append(run.failing, r.Name)
			if run.firstAt == "" && r.Location != nil {
				run.firstAt = fmt.Sprintf("%s:%d", strings.TrimPrefix(r.Location.File, "/"), r.Location.Row)
			}
		}
	}
	return run
}

// testFilter chooses which tests runTests runs, and how.
type testFilter struct {
	// names are the full names ("data.gatekeeper_test.test_x") of the
	// tests to run; none runs every test.
	names []string
	// trace records evaluation traces, and has the compiler rewrite test
	// expressions so that their values can be shown (`opa test
	// --var-values`). It is costly: only for a few tests.
	trace bool
}

// runTests compiles the snapshot, tests included, the way `opa test` does
// and runs its test_* rules, or those f names. It returns every result in
// file and line order, whatever order OPA's parallel runner finished them
// in, so that two runs report alike. A folder that does not parse or
// compile, or a run cut short by ctx, returns an error; it does not name
// the folder, which the callers know. Test and the Engine both run tests
// through here.
func (s *snapshot) runTests(ctx context.Context, f testFilter) ([]*tester.Result, error) {
	modules, store, err := s.testStore(ctx)
	if err != nil {
		return nil, err
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return nil, fmt.Errorf("opening policy data: %w", err)
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true).
		WithRewriteTestRules(f.trace)
	if s.caps != nil {
		compiler = compiler.WithCapabilities(s.caps)
	}
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(f.trace).
		StackTraces(true).
		SetTimeout(testTimeout)
	if len(f.names) > 0 {
		quoted := make([]string, len(f.names))
		for i, n := range f.names {
			quoted[i] = regexp.QuoteMeta(n)
		}
		runner = runner.Filter("^(" + strings.Join(quoted, "|") + ")$")
	}
	// RunTests compiles the folder before it returns (the tests then run
	// in its goroutines): under compileMu, as every compile is.
	compileMu.Lock()
	ch, err := runner.RunTests(ctx, txn)
	compileMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("running tests: %w", err)
	}
	slices.SortFunc(results, byLocation)
	return results, nil
}

// traceFailures runs the failing tests of results again with tracing and
// puts the traced results in their place, so that the report can show the
// expression that failed and its values. The first run's verdict stands: a
// test that passes the second time (a timeout on a busy machine) keeps its
// untraced failure.
func (s *snapshot) traceFailures(ctx context.Context, results []*tester.Result) error {
	var names []string
	for _, r := range results {
		if !r.Pass() && !r.Skip {
			names = append(names, fullName(r))
		}
	}
	if len(names) == 0 {
		return nil
	}
	traced, err := s.runTests(ctx, testFilter{names: names, trace: true})
	if err != nil {
		return err
	}
	byName := make(map[string]*tester.Result, len(traced))
	for _, r := range traced {
		byName[fullName(r)] = r
	}
	for i, r := range results {
		if t, ok := byName[fullName(r)]; ok && !r.Pass() && !t.Pass() {
			results[i] = t
		}
	}
	return nil
}

// fullName is the name the runner's filter matches: data.<package>.<test>.
func fullName(r *tester.Result) string { return r.Package + "." + r.Name }

// byLocation orders test results by file, then line, then name.
func byLocation(a, b *tester.Result) int {
	var fa, fb string
	var ra, rb int
	if a.Location != nil {
		fa, ra = a.Location.File, a.Location.Row
	}
	if b.Location != nil {
		fb, rb = b.Location.File, b.Location.Row
	}
	return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(ra, rb), cmp.Compare(a.Name, b.Name))
}

// hasTests reports whether the snapshot holds any *_test.rego file.
func (s *snapshot) hasTests() bool {
	return slices.ContainsFunc(s.names, testFile)
}
