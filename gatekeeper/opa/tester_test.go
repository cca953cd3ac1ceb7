package opa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
)

// closingLine is the last line of Test's report, which CI reads.
var closingLine = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed\n\z`)

func TestTestDefaultPolicies(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), policiesDir, &out, false)
	if err != nil {
		t.Fatalf("Test: %v\n%s", err, out.String())
	}
	if failed != 0 || passed == 0 {
		t.Errorf("Test = %d passed, %d failed; want all of them passing:\n%s", passed, failed, out.String())
	}
	m := closingLine.FindStringSubmatch(out.String())
	if m == nil || m[1] != strconv.Itoa(passed) || m[2] != "0" {
		t.Errorf("report does not end in %q:\n%s", strconv.Itoa(passed)+" passed, 0 failed", out.String())
	}
}

// TestDefaultPoliciesHaveTestsForEveryRuleKind guards against a test file
// being emptied: each rule the brief names has a test.
func TestDefaultPoliciesHaveTestsForEveryRuleKind(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if _, _, err := Test(context.Background(), policiesDir, &out, true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"test_closed_fails", "test_merged_fails", "test_draft_fails", "test_ungated_pair_fails",
		"test_failing_check_is_named", "test_missing_pull_request_waits", "test_source_error_waits_and_names_it",
		"test_today_waits_for_every_later_section", "test_success_when_every_section_passes",
	} {
		if !strings.Contains(out.String(), "data.gatekeeper_test."+name+": PASS") {
			t.Errorf("verbose report lacks %s: PASS", name)
		}
	}
}

func TestTestReportsFailures(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{
		"decision.rego": pendingPolicy,
		"decision_test.rego": `package gatekeeper_test

import data.gatekeeper

test_pending_without_ok if gatekeeper.decision.state == "pending"

test_success_with_ok if gatekeeper.decision.state == "success" with input as {"ok": true}

test_wrongly_expects_success if gatekeeper.decision.state == "success"
`,
	})
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), dir, &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 2 || failed != 1 {
		t.Errorf("Test = %d passed, %d failed; want 2 passed, 1 failed", passed, failed)
	}
	report := out.String()
	if !strings.Contains(report, "test_wrongly_expects_success: FAIL") || strings.Contains(report, "test_success_with_ok") {
		t.Errorf("report should name the failing test and only it:\n%s", report)
	}
	// Under FAILURES: where it failed, the expression that failed, and the
	// value the policy really gave (pending), not only "FAIL".
	_, failures, ok := strings.Cut(report, "FAILURES")
	if !ok {
		t.Fatalf("report has no FAILURES section:\n%s", report)
	}
	for _, want := range []string{"decision_test.rego:9:", `gatekeeper.decision.state == "success"`, `"pending"`} {
		if !strings.Contains(failures, want) {
			t.Errorf("FAILURES section lacks %q:\n%s", want, report)
		}
	}
	if !strings.HasSuffix(report, "\n2 passed, 1 failed\n") {
		t.Errorf("report does not end in the closing line:\n%s", report)
	}
}

func TestTestReportsLocalValues(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{
		"decision.rego": pendingPolicy,
		"decision_test.rego": `package gatekeeper_test

import data.gatekeeper

test_waits_for_two_things if {
	d := gatekeeper.decision
	count(d.waiting) == 2
}
`,
	})
	var out bytes.Buffer
	if _, failed, err := Test(context.Background(), dir, &out, false); err != nil || failed != 1 {
		t.Fatalf("Test = %d failed, %v; want 1 failed", failed, err)
	}
	for _, want := range []string{"decision_test.rego:7:", "count(d.waiting) == 2", `d.waiting: ["ok"]`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTestReportsInFileOrder(t *testing.T) {
	t.Parallel()
	var a, b strings.Builder
	a.WriteString("package gatekeeper_test\n")
	b.WriteString("package gatekeeper_test\n")
	var want []string
	for i := range 6 {
		fmt.Fprintf(&a, "\ntest_a%d if false\n", i)
		fmt.Fprintf(&b, "\ntest_b%d if false\n", i)
	}
	for i := range 6 {
		want = append(want, fmt.Sprintf("test_a%d", i))
	}
	for i := range 6 {
		want = append(want, fmt.Sprintf("test_b%d", i))
	}
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy, "b_test.rego": b.String(), "a_test.rego": a.String()})
	var out bytes.Buffer
	if _, _, err := Test(context.Background(), dir, &out, false); err != nil {
		t.Fatal(err)
	}
	// The first listing (before FAILURES) names each test once.
	listing, _, _ := strings.Cut(out.String(), "FAILURES")
	var got []string
	for _, line := range strings.Split(listing, "\n") {
		if name, ok := strings.CutPrefix(line, "data.gatekeeper_test."); ok {
			got = append(got, strings.SplitN(name, ":", 2)[0])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order of failing tests (-want +got):\n%s\n%s", diff, out.String())
	}
}

func TestTestCountsErrorsAndSkipsAsFailed(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{
		"decision.rego": pendingPolicy,
		"decision_test.rego": `package gatekeeper_test

import data.gatekeeper

f(_) := 1

f(_) := 2

test_conflict if f(0) == 1

todo_test_later if false
`,
	})
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), dir, &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 0 || failed != 2 {
		t.Errorf("Test = %d passed, %d failed; want 0 passed, 2 failed:\n%s", passed, failed, out.String())
	}
	for _, want := range []string{"test_conflict: ERROR", "eval_conflict_error", "todo_test_later: SKIPPED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTestCompileError(t *testing.T) {
	t.Parallel()
	dir := writePolicy(t, map[string]string{
		"decision.rego":      pendingPolicy,
		"decision_test.rego": "package gatekeeper_test\n\ntest_x if y == 1\n",
	})
	var out bytes.Buffer
	_, _, err := Test(context.Background(), dir, &out, false)
	var astErrs ast.Errors
	if err == nil || !errors.As(err, &astErrs) || !strings.Contains(err.Error(), "decision_test.rego:3") {
		t.Errorf("Test error = %v, want the compile error of decision_test.rego:3", err)
	}
	if closingLine.MatchString(out.String()) {
		t.Errorf("report of a folder that does not compile has a closing line:\n%s", out.String())
	}
}
