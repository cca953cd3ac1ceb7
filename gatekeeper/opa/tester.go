package opa

import (
	"context"
	"fmt"
	"io"
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
// it writes OPA's report to w (every test when verbose, else the failing
// ones with their names and locations, then the PASS/FAIL summary), and
// finally one line "N passed, N failed" that CI reads. A test that fails,
// errors or is skipped (todo_test_*) counts as failed, because `opa test`
// exits non-zero for each of them. A folder that does not parse or compile
// returns an error and no counts. A folder without tests passes with
// "0 passed, 0 failed", as `opa test` does.
//
// Unlike the server (see Engine), tests run without strict builtin errors,
// exactly as `opa test` does.
func Test(ctx context.Context, dir string, w io.Writer, verbose bool) (passed, failed int, err error) {
	snap, err := readSnapshot(dir, true)
	if err != nil {
		return 0, 0, err
	}
	modules, store, err := snap.testStore(ctx)
	if err != nil {
		return 0, 0, err
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return 0, 0, fmt.Errorf("testing policy folder %s: %w", dir, err)
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(verbose).
		StackTraces(true).
		SetTimeout(testTimeout)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return 0, 0, fmt.Errorf("testing policy folder %s: %w", dir, err)
	}

	// Count while OPA's reporter prints: it must see every result.
	tee := make(chan *tester.Result)
	go func() {
		defer close(tee)
		for r := range ch {
			if r.Pass() {
				passed++
			} else {
				failed++
			}
			tee <- r
		}
	}()
	if err := (tester.PrettyReporter{Output: w, Verbose: verbose}).Report(tee); err != nil {
		for range tee { // drain, so the counting goroutine ends
		}
		return 0, 0, fmt.Errorf("reporting tests of %s: %w", dir, err)
	}
	if _, err := fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed); err != nil {
		return passed, failed, fmt.Errorf("reporting tests of %s: %w", dir, err)
	}
	return passed, failed, nil
}
