package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func writeInput(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalExitCodes(t *testing.T) {
	t.Parallel()
	open := map[string]any{"version": 1, "now": "2026-11-25T11:00:00Z", "sources": map[string]any{},
		"pull_request": map[string]any{"owner": "acme", "repo": "shop", "number": 7, "state": "open", "draft": false,
			"merged": false, "gated": true, "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "head_ref": "staging", "base_ref": "master", "author": "dev", "labels": []any{}}}
	closed := map[string]any{"version": 1, "pull_request": map[string]any{"state": "closed", "gated": true, "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"}}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "x.rego"), []byte("package gatekeeper\ndecision := {"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		input    map[string]any
		policies string
		code     int
		state    string
	}{
		{"pending is a deny", open, "../../policies", 1, "pending"},
		{"failure is a deny", closed, "../../policies", 1, "failure"},
		{"broken policy is an error", open, broken, 2, "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, nil, "eval", "--input", writeInput(t, tc.input), "--policies", tc.policies)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			var got struct {
				State       string   `json:"state"`
				Reasons     []string `json:"reasons"`
				Description string   `json:"description"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got.State != tc.state {
				t.Errorf("state %q, want %q", got.State, tc.state)
			}
		})
	}
	if code, _, errOut := runCmd(t, nil, "eval"); code != 2 || !strings.Contains(errOut, "--input is required") {
		t.Errorf("eval without --input: exit %d, %q", code, errOut)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "policy", "test", "../../policies")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package gatekeeper\n\nx := 1\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "p_test.rego"), []byte("package gatekeeper\n\ntest_x if x == 2\n"), 0o600)
	if code, out, _ := runCmd(t, nil, "policy", "test", dir); code != 1 || !strings.Contains(out, "0 passed, 1 failed") {
		t.Errorf("a failing policy test: exit %d\n%s", code, out)
	}
}

func TestVersionNamesPolicyRevision(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, map[string]string{"GATEKEEPER_POLICIES": "../../policies"}, "version")
	if code != 0 || !strings.Contains(out, "gatekeeper dev") || strings.Contains(out, "unavailable") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCmd(t, map[string]string{"GATEKEEPER_POLICIES": "../../policies"}, "serve")
	if code != 2 || !strings.Contains(errOut, "GATEKEEPER_WEBHOOK_SECRET is required") {
		t.Errorf("exit %d, %q", code, errOut)
	}
	if code, _, _ := runCmd(t, nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}
