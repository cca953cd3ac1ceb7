package opa

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// slowRule burns CPU for far longer than any deadline in these tests
// (a billion iterations), one interruptible evaluation step at a time.
const slowRule = `count([1 | some i in numbers.range(1, 1000); some j in numbers.range(1, 1000); some k in numbers.range(1, 1000)])`

// slowOnInputPolicy decides at once, except for an input with slow: true,
// on which it never finishes in time.
const slowOnInputPolicy = `package gatekeeper

burn := ` + slowRule + `

decision := {"state": "pending", "reasons": [], "waiting": ["ok"], "channel": null} if not input.slow

decision := {"state": "failure", "reasons": [sprintf("%d", [burn])], "waiting": [], "channel": null} if input.slow
`

// TestEvaluationDeadlineInterruptsSlowPolicy: an evaluation that passes
// its deadline is stopped (OPA checks the context between steps), gives an
// error naming the timeout, and other evaluations go on meanwhile.
func TestEvaluationDeadlineInterruptsSlowPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": slowOnInputPolicy})
	e, err := Load(ctx, dir, WithEvalTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var slowErr error
	var slowTook time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		_, slowErr = e.Evaluate(ctx, map[string]any{"slow": true})
		slowTook = time.Since(start)
	}()
	// Another pull request is decided while the slow one runs.
	for range 5 {
		start := time.Now()
		d, err := e.Evaluate(ctx, map[string]any{})
		if err != nil || d.State != gatekeeper.Pending {
			t.Fatalf("fast evaluation: %v, %v", d.State, err)
		}
		if took := time.Since(start); took > 150*time.Millisecond {
			t.Errorf("fast evaluation took %s while a slow one ran", took)
		}
	}
	wg.Wait()
	if !errors.Is(slowErr, gatekeeper.ErrPolicy) {
		t.Fatalf("slow evaluation: %v, want a policy error", slowErr)
	}
	if got, want := gatekeeper.PolicySummary(slowErr), "evaluation took longer than 200ms"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if !strings.Contains(slowErr.Error(), "GATEKEEPER_EVAL_TIMEOUT") {
		t.Errorf("error %q does not name the setting", slowErr)
	}
	// Interrupted, not run to its end (which takes minutes).
	if slowTook > 3*time.Second {
		t.Errorf("slow evaluation returned after %s, want shortly after its 200ms deadline", slowTook)
	}
	t.Logf("slow evaluation stopped after %s", slowTook)
}

// TestEvaluationDeadlineFromPolicyData: release.evaluation.timeout in the
// policy data wins over the setting.
func TestEvaluationDeadlineFromPolicyData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{
		"decision.rego": slowOnInputPolicy,
		"data.yaml":     "release:\n  evaluation:\n    timeout: 150ms\n",
	})
	e, err := Load(ctx, dir, WithEvalTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(e.Settings().Evaluation.Timeout); got != 150*time.Millisecond {
		t.Errorf("Settings().Evaluation.Timeout = %s, want 150ms", got)
	}
	start := time.Now()
	_, err = e.Evaluate(ctx, map[string]any{"slow": true})
	if got := gatekeeper.PolicySummary(err); got != "evaluation took longer than 150ms" {
		t.Errorf("summary %q (err %v)", got, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestEvaluationStoppedByCallerIsNotAPolicyError: a server shutting down
// cancels evaluations; that is not the policy's fault.
func TestEvaluationStoppedByCallerIsNotAPolicyError(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{"decision.rego": slowOnInputPolicy})
	e, err := Load(context.Background(), dir, WithEvalTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = e.Evaluate(ctx, map[string]any{"slow": true})
	if err == nil || errors.Is(err, gatekeeper.ErrPolicy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the caller's deadline, not a policy error", err)
	}
}

// TestPolicySlowOnEveryInputIsRefused: the smoke evaluation has the same
// deadline, so a policy slow on every input is refused and reported at
// load, not served to stall every pull request.
func TestPolicySlowOnEveryInputIsRefused(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{"decision.rego": `package gatekeeper

decision := {"state": "pending", "reasons": [], "waiting": [sprintf("%d", [` + slowRule + `])], "channel": null}
`})
	start := time.Now()
	e, err := Load(context.Background(), dir, WithEvalTimeout(200*time.Millisecond))
	if !errors.Is(err, gatekeeper.ErrPolicy) || e.Ready() == nil {
		t.Fatalf("Load: %v, ready %v; want refused", err, e.Ready())
	}
	if got := gatekeeper.PolicySummary(err); !strings.Contains(got, "evaluation took longer than 200ms") {
		t.Errorf("summary %q", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing took %s", took)
	}
}

// slowTests is a test file whose one test runs until the runner's own
// per-test timeout (5 s) stops it.
const slowTests = `package gatekeeper_test

test_slow if ` + slowRule + ` > 0
`

// TestReloadDeadlineRefusesRevision: a revision whose load and tests pass
// the reload deadline is refused and reported like a broken one, and not
// tried again until the folder changes.
func TestReloadDeadlineRefusesRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy})
	e, err := Load(ctx, dir, WithReloadTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	good := e.Revision()
	writeFile(t, filepath.Join(dir, "decision_test.rego"), slowTests)
	start := time.Now()
	changed, err := e.Reload(ctx)
	took := time.Since(start)
	if !changed || !errors.Is(err, gatekeeper.ErrPolicy) {
		t.Fatalf("Reload = %v, %v; want the revision refused", changed, err)
	}
	if took > 3*time.Second {
		t.Errorf("Reload took %s, want about the 300ms deadline", took)
	}
	want := "policy revision " + good + " took longer than 300ms to load and test"
	if got := gatekeeper.PolicySummary(err); got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	st := e.Status()
	if st.Healthy() || st.BrokenRevision != good || st.Revision != good {
		t.Errorf("status %+v, want revision %s in force and refused", st, good)
	}
	// Refused, not retried: the same content answers at once.
	start = time.Now()
	if changed, err := e.Reload(ctx); changed || !errors.Is(err, gatekeeper.ErrPolicy) || time.Since(start) > 200*time.Millisecond {
		t.Errorf("second Reload = %v, %v after %s", changed, err, time.Since(start))
	}
}

// TestWatchNewerEditNotStuckBehindSlowLoad: while a revision's tests run
// for seconds, a fix saved meanwhile is loaded at once; the slow load is
// cancelled and never replaces it.
func TestWatchNewerEditNotStuckBehindSlowLoad(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy})
	e, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	from := e.Revision()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []Reloaded
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Watch(ctx, 10*time.Millisecond, func(r Reloaded) { mu.Lock(); got = append(got, r); mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()

	writeFile(t, filepath.Join(dir, "decision_test.rego"), slowTests)
	time.Sleep(300 * time.Millisecond) // the slow load is under way
	fixed := strings.Replace(pendingPolicy, `"waiting": ["ok"]`, `"waiting": ["ok", "fixed"]`, 1)
	writeFile(t, filepath.Join(dir, "decision.rego"), fixed)
	writeFile(t, filepath.Join(dir, "decision_test.rego"), passingTests)
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for e.Revision() == from && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	if e.Revision() == from {
		t.Fatal("the fix was never loaded")
	}
	if took > 2*time.Second {
		t.Errorf("the fix was loaded %s after it was saved, behind the slow load", took)
	}
	to := e.Revision()
	time.Sleep(200 * time.Millisecond)
	if e.Revision() != to || !e.Status().Healthy() {
		t.Errorf("after the fix: %+v", e.Status())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || got[len(got)-1].From != from || got[len(got)-1].To != to || got[len(got)-1].Err != nil {
		t.Errorf("reported %+v, want the change from %s to %s", got, from, to)
	}
}

// TestPolicyErrorSummaries: what a broken revision puts in the status is
// where it is wrong, file and line first, never the folder's path.
func TestPolicyErrorSummaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		files      map[string]string
		wantPrefix string
	}{
		{
			name:       "parse error",
			files:      map[string]string{"decision.rego": pendingPolicy, "zz_broken.rego": "package gatekeeper\n\ndecision := {\"state\": \"success\"\n"},
			wantPrefix: "zz_broken.rego:4: unexpected eof token: non-terminated object (+1 more)",
		},
		{
			name:       "compile error",
			files:      map[string]string{"decision.rego": pendingPolicy, "x.rego": "package gatekeeper\n\nx if {\n  undefined_function(1)\n}\n"},
			wantPrefix: "x.rego:4: undefined function undefined_function",
		},
		{
			name:       "failing test",
			files:      map[string]string{"decision.rego": pendingPolicy, "decision_test.rego": passingTests + "\ntest_never if false\n"},
			wantPrefix: "decision_test.rego:7: policy revision ",
		},
		{
			name:       "setting of the wrong type",
			files:      map[string]string{"decision.rego": pendingPolicy, "data.yaml": "release:\n  build:\n    stages: clone\n"},
			wantPrefix: "release settings: release.build.stages is a string, want a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writePolicy(t, tt.files)
			_, err := Load(context.Background(), dir)
			got := gatekeeper.PolicySummary(err)
			if !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("summary %q, want it to start with %q (err %v)", got, tt.wantPrefix, err)
			}
			if strings.Contains(got, dir) || strings.Contains(got, "\n") {
				t.Errorf("summary %q names the folder or spans lines", got)
			}
		})
	}
}
