package opa

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// TestServedRevisionReplays: the files the Engine says it serves load
// again, from memory, as the same revision, and decide the recorded
// evidence exactly as the Engine did; files edited since are refused
// under the stored revision's name.
func TestServedRevisionReplays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := load(t, policiesDir)
	rev, ok := e.Served(e.Revision())
	if !ok || len(rev.Revision) != 64 || rev.Short() != e.Revision() {
		t.Fatalf("Served(%s) = %s, %v", e.Revision(), rev.Revision, ok)
	}
	for name := range rev.Files {
		if testFile(name) {
			t.Errorf("served files include the test %s", name)
		}
	}
	if _, ok := e.Served("000000000000"); ok {
		t.Error("Served answers for a revision not in force")
	}
	again, _, err := LoadFiles(ctx, rev.Files, FilesOptions{Revision: rev.Revision})
	if err != nil {
		t.Fatal(err)
	}
	if again.Revision() != e.Revision() {
		t.Errorf("revision %s loaded from the stored files, want %s", again.Revision(), e.Revision())
	}
	for _, in := range []*gatekeeper.Input{input(evidence(t)), input(complete(t, evidence(t)))} {
		want, err1 := e.Evaluate(ctx, in)
		got, err2 := again.Evaluate(ctx, in)
		if err1 != nil || err2 != nil || !gatekeeper.SameVerdict(want, got) || got.PolicyRevision != want.PolicyRevision {
			t.Errorf("replayed %+v (%v), want %+v (%v)", got, err2, want, err1)
		}
	}
	edited := map[string]string{}
	for k, v := range rev.Files {
		edited[k] = v
	}
	edited["data.yaml"] += "\n# edited after the decision\n"
	if _, _, err := LoadFiles(ctx, edited, FilesOptions{Revision: rev.Revision}); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("edited files under the stored revision: %v, want refused", err)
	}
}

// TestLoadFilesRefusesUntrusted: a candidate is someone's code on the
// server. Paths out of the folder and oversized folders are refused; the
// builtins that reach out (http.send, DNS, the runtime's environment) do
// not compile; and its own evaluation timeout is capped.
func TestLoadFilesRefusesUntrusted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := "package gatekeeper\n\ndecision := {\"state\": \"pending\", \"reasons\": [], \"waiting\": [\"x\"], \"channel\": null}\n"
	for _, name := range []string{"../decision.rego", "/etc/decision.rego", "a/../../b.rego", "", "a\\b.rego"} {
		if _, _, err := LoadFiles(ctx, map[string]string{name: ok}, FilesOptions{Untrusted: true}); !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("file name %q: %v, want refused", name, err)
		}
	}
	if _, _, err := LoadFiles(ctx, map[string]string{"decision.rego": ok, "big.json": `"` + strings.Repeat("x", MaxPolicyFileBytes) + `"`}, FilesOptions{Untrusted: true}); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("a file over the limit: %v, want refused", err)
	}
	for _, call := range []string{
		`http.send({"method": "GET", "url": "http://169.254.169.254/latest/meta-data/"})`,
		`net.lookup_ip_addr("example.com")`,
		`opa.runtime()`,
	} {
		src := "package gatekeeper\n\nx := " + call + "\n\ndecision := {\"state\": \"pending\", \"reasons\": [], \"waiting\": [sprintf(\"%v\", [x])], \"channel\": null}\n"
		_, _, err := LoadFiles(ctx, map[string]string{"decision.rego": src}, FilesOptions{Untrusted: true})
		if err == nil || !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), "undefined function") {
			t.Errorf("untrusted candidate calling %s: %v, want refused", call, err)
		}
		// The same file is fine where it is trusted (the operator's folder).
		if _, _, err := LoadFiles(ctx, map[string]string{"decision.rego": src}, FilesOptions{}); err != nil && strings.Contains(err.Error(), "undefined function") {
			t.Errorf("trusted files calling %s: %v", call, err)
		}
	}
	// A candidate that asks for a minute per evaluation gets the cap.
	slow := map[string]string{
		"decision.rego": slowOnInputPolicy,
		"data.yaml":     "release:\n  evaluation:\n    timeout: 60s\n",
	}
	e, _, err := LoadFiles(ctx, slow, FilesOptions{Untrusted: true}, WithEvalTimeoutCap(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Evaluate(ctx, map[string]any{"slow": true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow candidate: %v, want the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("slow candidate ran %s under a 200ms cap", took)
	}
}

// TestLoadFilesReportsFailingTests: the candidate's own tests run first
// and a failing one is reported with its name and values, while the
// candidate still loads for the preview to show what it would decide.
func TestLoadFilesReportsFailingTests(t *testing.T) {
	t.Parallel()
	dir := copyPolicies(t)
	writeFile(t, filepath.Join(dir, "extra_test.rego"), "package gatekeeper_test\n\nimport data.gatekeeper\n\ntest_always_success if {\n\tgatekeeper.decision.state == \"success\" with input as {}\n}\n")
	files, err := ReadFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["extra_test.rego"]; !ok {
		t.Fatal("ReadFiles left out the test file")
	}
	e, report, err := LoadFiles(context.Background(), files, FilesOptions{Untrusted: true, Tests: true})
	if err != nil {
		t.Fatal(err)
	}
	if report.Failed != 1 || report.Passed == 0 || len(report.Failing) != 1 || report.Failing[0] != "test_always_success" ||
		!strings.Contains(report.Output, "test_always_success") || !strings.Contains(report.Output, "1 failed") {
		t.Errorf("report %+v", report)
	}
	snap, err := readSnapshot(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if e.Revision() != short(snap.revision) {
		t.Errorf("candidate revision %s, want the folder's %s", e.Revision(), short(snap.revision))
	}
}
