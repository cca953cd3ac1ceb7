package opa

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// edit replaces old by new in the file at path, failing the test when old
// is not there (an edit that silently does nothing would prove nothing).
func edit(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// passingTests is a test file for pendingPolicy whose tests pass.
const passingTests = `package gatekeeper_test

import data.gatekeeper

test_pending_without_ok if gatekeeper.decision.state == "pending"
`

func TestReloadRefusesRevisionWhoseTestsFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyPolicies(t)
	e := load(t, dir)
	good := e.Revision()
	var report bytes.Buffer
	passed, _, err := Test(ctx, dir, &report, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Status().Tests; got != passed || passed == 0 {
		t.Fatalf("Status().Tests = %d, want the %d tests of the folder", got, passed)
	}
	in := input(complete(t, evidence(t)))
	want, err := e.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}

	// A release manager mistypes a number: the revision compiles and its
	// smoke evaluation is not success, but a data test fails.
	data := filepath.Join(dir, "data.yaml")
	edit(t, data, "min: 80\n", "min: \"eighty\"\n")
	changed, err := e.Reload(ctx)
	if !changed || !errors.Is(err, gatekeeper.ErrPolicy) {
		t.Fatalf("Reload = %v, %v; want changed and an ErrPolicy", changed, err)
	}
	st := e.Status()
	if st.BrokenRevision == "" || st.BrokenRevision == good {
		t.Errorf("Status().BrokenRevision = %q, want the new revision (not %s)", st.BrokenRevision, good)
	}
	wantErr := "policy revision " + st.BrokenRevision + " fails 2 of its " + strconv.Itoa(passed) + " tests: test_data_yaml_coverage_min_is_a_percentage, …"
	if err.Error() != wantErr {
		t.Errorf("Reload error = %q, want %q", err, wantErr)
	}
	if st.LastError != wantErr || st.Healthy() {
		t.Errorf("Status() = %+v, want not healthy with LastError %q", st, wantErr)
	}
	if e.Revision() != good || e.Ready() != nil {
		t.Errorf("Revision() = %q, Ready() = %v; want the last good %s in force and ready", e.Revision(), e.Ready(), good)
	}
	got, err := e.Evaluate(ctx, in)
	if !errors.Is(err, gatekeeper.ErrPolicy) || !strings.HasPrefix(err.Error(), wantErr) {
		t.Errorf("Evaluate error = %v, want ErrPolicy starting %q", err, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Evaluate decision for the record (-want +got):\n%s", diff)
	}
	if changed, err := e.Reload(ctx); changed || err == nil || err.Error() != wantErr {
		t.Errorf("second Reload = %v, %v; want unchanged and the same error", changed, err)
	}

	// The fix is served again.
	edit(t, data, "min: \"eighty\"\n", "min: 85\n")
	if changed, err := e.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload after fix = %v, %v; want changed, no error", changed, err)
	}
	if st := e.Status(); !st.Healthy() || st.Revision == good || st.Tests != passed {
		t.Errorf("Status() after fix = %+v, want healthy, a new revision, %d tests", st, passed)
	}
	if got, err := e.Evaluate(ctx, in); err != nil || got.State != gatekeeper.Failure {
		t.Errorf("Evaluate after fix = %+v, %v; want failure (coverage 84.2%% below 85%%), no error", got, err)
	}
}

func TestReloadTestOnlyEdits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy, "decision_test.rego": passingTests})
	tests := filepath.Join(dir, "decision_test.rego")
	e := load(t, dir)
	rev := e.Revision()
	if got := e.Status().Tests; got != 1 {
		t.Fatalf("Status().Tests = %d, want 1", got)
	}

	// A test-only edit that fails: the same policy, no longer served.
	writeFile(t, tests, passingTests+"\ntest_expects_success if gatekeeper.decision.state == \"success\"\n")
	changed, err := e.Reload(ctx)
	wantErr := "policy revision " + rev + " fails 1 of its 2 tests: test_expects_success"
	if !changed || !errors.Is(err, gatekeeper.ErrPolicy) || err.Error() != wantErr {
		t.Fatalf("Reload = %v, %v; want changed and ErrPolicy %q", changed, err, wantErr)
	}
	if st := e.Status(); st.Revision != rev || st.BrokenRevision != rev || st.LastError != wantErr || st.Healthy() {
		t.Errorf("Status() = %+v, want revision %s in force and broken by its tests", st, rev)
	}
	if _, err := e.Evaluate(ctx, map[string]any{}); !errors.Is(err, gatekeeper.ErrPolicy) || !strings.HasPrefix(err.Error(), wantErr) {
		t.Errorf("Evaluate error = %v, want ErrPolicy starting %q", err, wantErr)
	}

	// Fixing the test serves the revision again.
	writeFile(t, tests, passingTests+"\ntest_success_with_ok if gatekeeper.decision.state == \"success\" with input as {\"ok\": true}\n")
	if changed, err := e.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload after fix = %v, %v; want changed, no error", changed, err)
	}
	if st := e.Status(); !st.Healthy() || st.Revision != rev || st.Tests != 2 {
		t.Errorf("Status() after fix = %+v, want healthy, revision %s, 2 tests", st, rev)
	}
	if _, err := e.Evaluate(ctx, map[string]any{}); err != nil {
		t.Errorf("Evaluate after fix: %v", err)
	}

	// A test-only edit that passes changes nothing served.
	writeFile(t, tests, passingTests)
	if changed, err := e.Reload(ctx); changed || err != nil {
		t.Errorf("Reload of a passing test-only edit = %v, %v; want unchanged, no error", changed, err)
	}
	if st := e.Status(); !st.Healthy() || st.Revision != rev || st.Tests != 1 {
		t.Errorf("Status() = %+v, want healthy, revision %s, 1 test", st, rev)
	}
}

func TestReloadTestVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tests     map[string]string // test files beside pendingPolicy
		wantErr   string            // "" when the revision is served
		wantTests int
	}{
		{name: "no test files", wantTests: 0},
		{name: "passing", tests: map[string]string{"decision_test.rego": passingTests}, wantTests: 1},
		{
			name:    "failing",
			tests:   map[string]string{"decision_test.rego": passingTests + "\ntest_never if false\n"},
			wantErr: "fails 1 of its 2 tests: test_never",
		},
		{
			name:    "erroring",
			tests:   map[string]string{"decision_test.rego": "package gatekeeper_test\n\nf(_) := 1\n\nf(_) := 2\n\ntest_conflict if f(0) == 1\n"},
			wantErr: "fails 1 of its 1 tests: test_conflict",
		},
		{
			name:    "skipped",
			tests:   map[string]string{"decision_test.rego": passingTests + "\ntodo_test_later if false\n"},
			wantErr: "fails 1 of its 2 tests: todo_test_later",
		},
		{
			name:    "not compiling",
			tests:   map[string]string{"decision_test.rego": "package gatekeeper_test\n\ntest_x if y == 1\n"},
			wantErr: "its tests do not load: compiling: 1 error occurred: decision_test.rego:3:",
		},
		{
			name:    "not parsing",
			tests:   map[string]string{"sub/more_test.rego": "package gatekeeper_test\n\ntest_x if {\n"},
			wantErr: "its tests do not load: parsing: 1 error occurred during loading: sub/more_test.rego:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"decision.rego": pendingPolicy}
			for name, content := range tt.tests {
				files[name] = content
			}
			e, err := Load(context.Background(), writePolicy(t, files))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if st := e.Status(); !st.Healthy() || st.Tests != tt.wantTests {
					t.Errorf("Status() = %+v, want healthy with %d tests", st, tt.wantTests)
				}
				return
			}
			if !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want ErrPolicy containing %q", err, tt.wantErr)
			}
			if e.Ready() == nil || e.Revision() != "" {
				t.Errorf("Ready() = nil or Revision() = %q: a revision whose tests do not pass is in force", e.Revision())
			}
			if _, err := e.Evaluate(context.Background(), map[string]any{}); !errors.Is(err, gatekeeper.ErrPolicy) {
				t.Errorf("Evaluate error = %v, want ErrPolicy", err)
			}
		})
	}
}

func TestReloadInterruptedTestsAreNotBroken(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy, "decision_test.rego": passingTests})
	e := New(dir)
	snap, err := readSnapshot(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := test(ctx, snap); !errors.Is(err, context.Canceled) {
		t.Fatalf("test with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := e.Reload(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, gatekeeper.ErrPolicy) {
		t.Errorf("Reload with a cancelled context = %v, want context.Canceled, not ErrPolicy", err)
	}
	if st := e.Status(); st.LastError != "" {
		t.Errorf("Status() = %+v, want nothing marked broken", st)
	}
}

func TestTestsFailedMessage(t *testing.T) {
	t.Parallel()
	const rev = "3fa2c1e9abcd0123456789"
	tests := []struct {
		name    string
		passed  int
		failing []string
		want    string
	}{
		{
			name: "one", passed: 9, failing: []string{"test_coverage_below_minimum_fails"},
			want: "policy revision 3fa2c1e9abcd fails 1 of its 10 tests: test_coverage_below_minimum_fails",
		},
		{
			name: "two fit", passed: 8, failing: []string{"test_a", "test_b"},
			want: "policy revision 3fa2c1e9abcd fails 2 of its 10 tests: test_a, test_b",
		},
		{
			name: "the rest elided", passed: 100,
			failing: []string{"test_coverage_below_minimum_fails", "test_coverage_drop_fails", "test_critical_vulnerability_fails"},
			want:    "policy revision 3fa2c1e9abcd fails 3 of its 103 tests: test_coverage_below_minimum_fails, test_coverage_drop_fails, …",
		},
		{
			name: "a long first name is kept whole", passed: 0,
			failing: []string{"test_" + strings.Repeat("x", 80), "test_b"},
			want:    "policy revision 3fa2c1e9abcd fails 2 of its 2 tests: test_" + strings.Repeat("x", 80) + ", …",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := &testsFailed{revision: rev, run: testRun{passed: tt.passed, failed: len(tt.failing), failing: tt.failing}}
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
