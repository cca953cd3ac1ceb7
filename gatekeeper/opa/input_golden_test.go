package opa

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var updateInput = flag.Bool("update-input", false, "rewrite testdata/input/*.json from BuildInput")

// inputCases are the evidence the input golden files were recorded on: the
// recorded pull request as it arrives, complete, with a disputed and
// unverified build, a stale build, votes, NOGOs and lifts, failing sources,
// and nothing at all.
func inputCases(t *testing.T) map[string]struct {
	ev  *gatekeeper.Evidence
	opt gatekeeper.InputOptions
} {
	t.Helper()
	opt := gatekeeper.InputOptions{Now: now, Gated: gated, StatusContext: "release-gate"}
	busy := complete(t, evidence(t))
	head := busy.HeadSHA()
	at := now.Add(-5 * time.Minute)
	for i, c := range []struct{ user, body string }{
		{"qa-carol", "/nogo migrations not reviewed"},
		{"sre-dan", "/lift @qa-carol reviewed with QA"},
		{"outsider", "/lift @qa-carol"},
		{"vp-erin", "/nogo"},
	} {
		busy.Apply(gatekeeper.Event{Name: "issue_comment.created", Received: at, Key: busy.Key, Comment: &gatekeeper.Comment{
			ID: int64(950 + i), User: c.user, Body: c.body, CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at.Add(time.Duration(i) * time.Second),
		}})
	}
	busy.Apply(gatekeeper.Event{Name: "status", Received: at, SHA: head, Check: &gatekeeper.Check{
		Name: "release-gate", SHA: head, Kind: "status", State: "pending", UpdatedAt: at,
	}})
	busy.Apply(gatekeeper.Event{Name: "jenkins.build", Received: at, Key: busy.Key, Build: &gatekeeper.Build{
		JobPath: "job/Codertocat/job/Hello-World/job/PR-2", Number: 50, Key: busy.Key, HeadSHA: "0000000000000000000000000000000000000001",
		Result: gatekeeper.ResultFailure, UpdatedAt: at.Add(-time.Hour),
	}})
	busy.Sources["jenkins"] = gatekeeper.SourceStatus{Error: "jenkins answered 503", Attempts: 3, CheckedAt: at}
	branch := 71.25
	cur := busy.CurrentBuild()
	cur.Coverage.Branch = &branch
	cur.Vulnerabilities.Suppressed.High = 2
	cur.Missing = []string{"jacoco"}

	pending := complete(t, evidence(t))
	pending.CurrentBuild().Verified = false
	labeled := evidence(t)
	pr := *labeled.PR
	pr.Labels, pr.UpdatedAt = []string{"release", "emergency"}, pr.UpdatedAt.Add(time.Minute)
	labeled.Apply(gatekeeper.Event{Name: "pull_request.labeled", Received: now.Add(-3 * time.Minute), Key: pr.Key, PullRequest: &pr})

	verify := opt
	verify.VerifyBuilds = true
	keyed := opt
	keyed.StageKeys = func() func(string) string {
		return func(name string) string { return "stage-" + name }
	}
	return map[string]struct {
		ev  *gatekeeper.Evidence
		opt gatekeeper.InputOptions
	}{
		"empty":          {&gatekeeper.Evidence{}, gatekeeper.InputOptions{Now: now}},
		"opened":         {evidence(t), opt},
		"labeled":        {labeled, opt},
		"complete":       {complete(t, evidence(t)), opt},
		"busy":           {busy, opt},
		"busy-verify":    {busy, verify},
		"pending-verify": {pending, verify},
		"stage-keys":     {complete(t, evidence(t)), keyed},
	}
}

// TestInputGolden proves the policy input document keeps its JSON: the
// golden files were recorded from the hand-written map builder the typed
// gatekeeper.Input replaced, and every policy test and end-to-end golden
// depends on this shape. Key order aside, the JSON must be the same.
func TestInputGolden(t *testing.T) {
	for name, c := range inputCases(t) {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(gatekeeper.BuildInput(c.ev, c.opt), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "input", name+".json")
			if *updateInput {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := decodeJSON(t, got), decodeJSON(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("input %s differs from the recorded document:\ngot  %s\nwant %s", name, got, want)
			}
		})
	}
}

// decodeJSON decodes b keeping numbers as written.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestInputValueMatchesJSON proves that what OPA evaluates, the typed
// input walked straight into an ast.Value, is the document its JSON
// says: the golden file read the way rego.EvalInput would read it.
func TestInputValueMatchesJSON(t *testing.T) {
	for name, c := range inputCases(t) {
		t.Run(name, func(t *testing.T) {
			got, err := inputValue(gatekeeper.BuildInput(c.ev, c.opt))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join("testdata", "input", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.UnmarshalJSON(b, &doc); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("ast value of input %s:\ngot  %v\nwant %v", name, got, want)
			}
			// Map gives the same document too.
			m, err := ast.InterfaceToValue(gatekeeper.BuildInput(c.ev, c.opt).Map())
			if err != nil {
				t.Fatal(err)
			}
			if m.Compare(want) != 0 {
				t.Errorf("Map of input %s:\ngot  %v\nwant %v", name, m, want)
			}
		})
	}
}

// BenchmarkInputValue is the typed input's conversion to what OPA
// evaluates; BenchmarkInputValueMap the plain-map route the hand-written
// builder took (its maps, then ast.InterfaceToValue).
func BenchmarkInputValue(b *testing.B) {
	in := benchInput(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inputValue(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInputValueMap(b *testing.B) {
	in := benchInput(b).Map()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ast.InterfaceToValue(in); err != nil {
			b.Fatal(err)
		}
	}
}
