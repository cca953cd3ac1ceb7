package opa

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// load loads dir and fails the test if it does not load.
func load(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return e
}

// laterEvidence is what the default policy waits for while no source
// supplies the build, approvals, votes, links and checklist (the recorded
// pull request's approval by lead-bob waits for his team memberships).
var laterEvidence = []string{
	"Jenkins PR-merge build of ec26c3e",
	"unit tests and coverage",
	"vulnerability scan",
	"Helm chart version",
	"approvals: module lead, SRE, QA, management (checking lead-bob's team membership)",
	"GO votes: module lead, SRE, QA",
	"link the release to its ZenHub issues (#123 or a ZenHub link in the description)",
	"merged pull requests of the release",
	"release checklist in the description",
}

func TestEvaluateDefaultPolicy(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	rev := e.Revision()
	if len(rev) != revisionLen {
		t.Fatalf("Revision() = %q, want %d hex digits", rev, revisionLen)
	}
	tests := []struct {
		name  string
		input func(t *testing.T) any
		want  gatekeeper.Decision
	}{
		{
			name:  "today's evidence waits for every later section",
			input: func(t *testing.T) any { return input(evidence(t)) },
			want:  gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: laterEvidence},
		},
		{
			name:  "every section present and passing",
			input: func(t *testing.T) any { return input(complete(t, evidence(t))) },
			want:  gatekeeper.Decision{State: gatekeeper.Success, Reasons: []string{}, Waiting: []string{}, Channel: "beta"},
		},
		{
			name: "closed pull request (recorded closed webhook) fails",
			input: func(t *testing.T) any {
				ev := evidence(t)
				ev.Apply(gatekeeper.Event{Name: "pull_request.closed", Received: now, PullRequest: readPull(t, "github/pull_request.closed.json")})
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"pull request is closed"}, Waiting: []string{}},
		},
		{
			name: "draft fails",
			input: func(t *testing.T) any {
				ev := evidence(t)
				ev.PR.Draft = true
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"pull request is a draft"}, Waiting: []string{}},
		},
		{
			name: "pull request not on a gated pair fails",
			input: func(t *testing.T) any {
				ev := evidence(t)
				ev.PR.BaseRef = "develop"
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"changes into develop is not a gated branch pair"}, Waiting: []string{}},
		},
		{
			name: "failing check run (recorded) is named",
			input: func(t *testing.T) any {
				ev := evidence(t)
				c := readCheckRun(t, "github/check_run.completed.failure.json")
				ev.Apply(gatekeeper.Event{Name: "check_run.completed", Received: now, SHA: c.SHA, Check: &c})
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"check Octocoders-linter failed"}, Waiting: []string{}},
		},
		{
			name: "pending check waits",
			input: func(t *testing.T) any {
				ev := evidence(t)
				ev.Apply(gatekeeper.Event{Name: "status", Received: now, Check: &gatekeeper.Check{Name: "ci/lint", SHA: ev.HeadSHA(), Kind: "status", State: "pending", UpdatedAt: now}})
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"check ci/lint"}},
		},
		{
			name: "no pull request snapshot waits for it first",
			input: func(t *testing.T) any {
				return input(&gatekeeper.Evidence{Key: gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}})
			},
			want: gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{
				"pull request details from GitHub", "Jenkins PR-merge build", "unit tests and coverage", "vulnerability scan", "Helm chart version",
				"approvals: module lead, SRE, QA, management", "GO votes: module lead, SRE, QA", "merged pull requests of the release",
				"release checklist in the description",
			}},
		},
		{
			name: "source error waits and names it",
			input: func(t *testing.T) any {
				ev := evidence(t)
				ev.Sources["jenkins"] = gatekeeper.SourceStatus{Error: "connection refused", Attempts: 2, CheckedAt: now}
				return input(complete(t, ev))
			},
			want: gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"jenkins evidence unavailable: connection refused"}},
		},
		{
			name: "approval of an older head does not count",
			input: func(t *testing.T) any {
				ev := complete(t, evidence(t))
				// sre-dan's latest review is on a commit before the head.
				ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Received: now, Review: &gatekeeper.Review{
					ID: 999, User: "sre-dan", State: "approved", CommitID: "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0", SubmittedAt: now,
				}})
				return input(ev)
			},
			want: gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"approval by SRE (sre-dan approved an older commit)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.Evaluate(context.Background(), tt.input(t))
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			tt.want.PolicyRevision = rev
			// Vote verdicts and what passes have their own tests
			// (votes_test.go, TestDefaultPolicyPasses).
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(gatekeeper.Decision{}, "Votes", "Passes")); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescriptionOfTodaysEvidence(t *testing.T) {
	t.Parallel()
	d, err := load(t, policiesDir).Evaluate(context.Background(), input(evidence(t)))
	if err != nil {
		t.Fatal(err)
	}
	want := "Waiting for: Jenkins PR-merge build of ec26c3e; unit tests and coverage; vulnerability scan; Helm chart version (+5 more)"
	if got := d.Description(); got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
}

func TestBrokenAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{
			name:    "syntax error",
			files:   map[string]string{"decision.rego": "package gatekeeper\n\ndecision := {\n"},
			wantErr: "decision.rego:",
		},
		{
			name:    "unsafe variable",
			files:   map[string]string{"decision.rego": "package gatekeeper\n\ndecision := x if y == 1\n"},
			wantErr: "rego_unsafe_var_error",
		},
		{
			name:    "empty folder",
			files:   map[string]string{"README.md": "no policy here"},
			wantErr: "no .rego or data files",
		},
		{
			name:    "no decision rule",
			files:   map[string]string{"decision.rego": "package gatekeeper\n\nallow := false\n"},
			wantErr: "data.gatekeeper.decision is undefined",
		},
		{
			name:    "success on an empty input (fail open)",
			files:   map[string]string{"decision.rego": "package gatekeeper\n\ndecision := {\"state\": \"success\", \"reasons\": [], \"waiting\": [], \"channel\": null}\n"},
			wantErr: "decision is success, want failure or pending",
		},
		{
			name:    "malformed data file",
			files:   map[string]string{"decision.rego": pendingPolicy, "data.yaml": "release: [\n"},
			wantErr: "data.yaml",
		},
		{
			name:    "its tests fail",
			files:   map[string]string{"decision.rego": pendingPolicy, "decision_test.rego": passingTests + "\ntest_never if false\n"},
			wantErr: "fails 1 of its 2 tests: test_never",
		},
		{
			name:    "rule path conflicts with data",
			files:   map[string]string{"decision.rego": pendingPolicy, "data.json": `{"gatekeeper": {"decision": {}}}`},
			wantErr: "conflict",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Load(context.Background(), writePolicy(t, tt.files))
			if !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want one wrapping ErrPolicy containing %q", err, tt.wantErr)
			}
			if err := e.Ready(); !errors.Is(err, gatekeeper.ErrPolicy) {
				t.Errorf("Ready() = %v, want an error wrapping ErrPolicy", err)
			}
			if rev := e.Revision(); rev != "" {
				t.Errorf("Revision() = %q, want none", rev)
			}
			d, err := e.Evaluate(context.Background(), input(evidence(t)))
			if !errors.Is(err, gatekeeper.ErrPolicy) {
				t.Errorf("Evaluate error = %v, want one wrapping ErrPolicy", err)
			}
			if d.State != "" {
				t.Errorf("Evaluate state = %q, want none", d.State)
			}
			if st := e.Status(); st.LastError == "" || st.Healthy() {
				t.Errorf("Status() = %+v, want the load error and not healthy", st)
			}
		})
	}
}

// pendingPolicy is a minimal well-formed policy that waits for input.ok.
const pendingPolicy = `package gatekeeper

decision := {"state": "pending", "reasons": [], "waiting": ["ok"], "channel": null} if not input.ok

decision := {"state": "success", "reasons": [], "waiting": [], "channel": "beta"} if input.ok
`

func TestBrokenEditKeepsLastGoodRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyPolicies(t)
	e := load(t, dir)
	good := e.Revision()
	in := input(evidence(t))
	want, err := e.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}

	// A release manager saves a Rego file with a typo.
	path := filepath.Join(dir, "pull_request.rego")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Replace(string(orig), "if not pr", "if not pr {", 1))

	changed, err := e.Reload(ctx)
	if !changed || !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), "pull_request.rego:") {
		t.Fatalf("Reload = %v, %v; want changed and an ErrPolicy naming pull_request.rego", changed, err)
	}
	if got := e.Revision(); got != good {
		t.Errorf("Revision() = %q, want the last good %q", got, good)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready() = %v, want ready: the last good policy is in force", err)
	}
	st := e.Status()
	if st.BrokenRevision == "" || st.BrokenRevision == good || !strings.Contains(st.LastError, "pull_request.rego:") || st.Healthy() {
		t.Errorf("Status() = %+v, want the broken revision and its error", st)
	}
	got, err := e.Evaluate(ctx, in)
	if !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), st.BrokenRevision) || !strings.Contains(err.Error(), "said pending") {
		t.Errorf("Evaluate error = %v, want ErrPolicy naming broken revision %s and what the last good one said", err, st.BrokenRevision)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Evaluate decision for the record (-want +got):\n%s", diff)
	}

	// Polling the unchanged broken folder reports it, but changes nothing.
	changed, err = e.Reload(ctx)
	if changed || !errors.Is(err, gatekeeper.ErrPolicy) {
		t.Errorf("second Reload = %v, %v; want unchanged and still ErrPolicy", changed, err)
	}

	// The fix restores the same revision.
	writeFile(t, path, string(orig))
	if changed, err := e.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload after fix = %v, %v; want changed, no error", changed, err)
	}
	if got := e.Revision(); got != good {
		t.Errorf("Revision() after fix = %q, want %q", got, good)
	}
	if got, err := e.Evaluate(ctx, in); err != nil || got.State != gatekeeper.Pending {
		t.Errorf("Evaluate after fix = %+v, %v; want pending, no error", got, err)
	}
	if st := e.Status(); !st.Healthy() || st.LastError != "" || st.BrokenRevision != "" {
		t.Errorf("Status() after fix = %+v, want healthy", st)
	}
}

func TestReloadNewRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyPolicies(t)
	e := load(t, dir)
	old := e.Revision()
	in := input(complete(t, evidence(t)))

	if changed, err := e.Reload(ctx); changed || err != nil {
		t.Fatalf("Reload of an unchanged folder = %v, %v; want unchanged", changed, err)
	}
	// A release manager raises the coverage minimum: data only, no Rego.
	data, err := os.ReadFile(filepath.Join(dir, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "data.yaml"), strings.Replace(string(data), "min: 80", "min: 85", 1))
	if changed, err := e.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want changed, no error", changed, err)
	}
	if e.Revision() == old {
		t.Fatalf("Revision() unchanged after a data edit")
	}
	got, err := e.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"coverage 84.2% below 85%"}, Waiting: []string{}, PolicyRevision: e.Revision()}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(gatekeeper.Decision{}, "Votes", "Passes")); diff != "" {
		t.Errorf("Evaluate (-want +got):\n%s", diff)
	}
	// What passes follows the edit too: the coverage minimum no longer
	// passes, master's drop still does.
	for _, p := range got.Passes {
		if strings.HasPrefix(p, "coverage 84.2% ≥") {
			t.Errorf("after raising coverage.min to 85, passes still has %q", p)
		}
	}
	if !slices.Contains(got.Passes, "coverage 84.2% is 0.7 points below master 84.9% (max drop 1)") {
		t.Errorf("passes %q lack the coverage against master", got.Passes)
	}
}

func TestRevisionIgnoresTestsAndOtherFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy})
	e := load(t, dir)
	rev := e.Revision()
	// A passing test file is checked, but serves the same revision
	// (reload_test.go: a failing one stops it being served).
	writeFile(t, filepath.Join(dir, "decision_test.rego"), passingTests)
	writeFile(t, filepath.Join(dir, "README.md"), "notes")
	writeFile(t, filepath.Join(dir, ".decision.rego.swp"), "garbage")
	if changed, err := e.Reload(ctx); changed || err != nil || e.Revision() != rev {
		t.Errorf("Reload = %v, %v, revision %s; want unchanged revision %s", changed, err, e.Revision(), rev)
	}
	// A data file in a subfolder is policy: it changes the revision.
	writeFile(t, filepath.Join(dir, "extra", "data.json"), `{"x": 1}`)
	if changed, err := e.Reload(ctx); !changed || err != nil || e.Revision() == rev {
		t.Errorf("Reload = %v, %v, revision %s; want a new revision", changed, err, e.Revision())
	}
}

func TestBrokenAtStartRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": "package gatekeeper\n\ndecision := {\n"})
	e, err := Load(ctx, dir)
	if err == nil {
		t.Fatal("Load of a broken folder: no error")
	}
	writeFile(t, filepath.Join(dir, "decision.rego"), pendingPolicy)
	if changed, err := e.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload after fix = %v, %v", changed, err)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready() = %v", err)
	}
	got, err := e.Evaluate(ctx, map[string]any{"ok": true})
	want := gatekeeper.Decision{State: gatekeeper.Success, Reasons: []string{}, Waiting: []string{}, Channel: "beta", PolicyRevision: e.Revision()}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Evaluate (-want +got):\n%s", diff)
	}
}

// shapesPolicy returns a decision of a bad shape chosen by input.case, and
// a well-formed pending one for an empty input (so that it loads).
const shapesPolicy = `package gatekeeper

ok := {"state": "pending", "reasons": [], "waiting": ["evidence"], "channel": null}

decision := ok if not input.case

decision := object.union(ok, {"state": "ok"}) if input.case == "state ok"

decision := object.union(ok, {"state": "SUCCESS"}) if input.case == "state upper case"

decision := object.union(ok, {"state": 1}) if input.case == "state number"

decision := object.remove(ok, ["state"]) if input.case == "state missing"

decision := {"state": "success", "reasons": "none", "waiting": [], "channel": null} if input.case == "reasons a string"

decision := {"state": "success", "reasons": [1], "waiting": [], "channel": null} if input.case == "reasons of numbers"

decision := {"state": "success", "reasons": [], "waiting": null, "channel": null} if input.case == "waiting null"

decision := {"state": "success", "reasons": [], "channel": null} if input.case == "waiting missing"

decision := {"state": "success", "reasons": [], "waiting": []} if input.case == "channel missing"

decision := {"state": "success", "reasons": [], "waiting": [], "channel": "gold"} if input.case == "channel unknown"

decision := {"state": "success", "reasons": ["coverage 70%"], "waiting": [], "channel": null} if input.case == "success with reasons"

decision := {"state": "success", "reasons": [], "waiting": ["votes"], "channel": null} if input.case == "success with waiting"

decision := "success" if input.case == "a string"

decision := {"state": "success", "reasons": [], "waiting": [], "channel": "stable"} if input.case in {"conflict", "success"}

decision := {"state": "failure", "reasons": ["x"], "waiting": [], "channel": null} if input.case == "conflict"

decision := {"state": "failure", "reasons": {"b", "a"}, "waiting": set(), "channel": null} if input.case == "sets"

decision := object.union(ok, {"waiting": [to_number("x")]}) if input.case == "builtin error"

decision := object.union(ok, {"passes": "all"}) if input.case == "passes a string"

decision := object.union(ok, {"passes": ["clone", 7]}) if input.case == "passes of numbers"

decision := object.union(ok, {"passes": null}) if input.case == "passes null"

decision := object.union(ok, {"passes": {"b", "a"}}) if input.case == "passes"
`

func TestEvaluateStrictDecoding(t *testing.T) {
	t.Parallel()
	e := load(t, writePolicy(t, map[string]string{"decision.rego": shapesPolicy}))
	rev := e.Revision()
	for _, c := range []struct {
		name    string
		wantErr string
	}{
		{"state ok", `state "ok"`},
		{"state upper case", `state "SUCCESS"`},
		{"state number", "state is a number"},
		{"state missing", "state is null"},
		{"reasons a string", "reasons is a string"},
		{"reasons of numbers", "reasons[0] is a number"},
		{"waiting null", "waiting is null"},
		{"waiting missing", "waiting missing"},
		{"channel missing", "no channel"},
		{"channel unknown", "channel gold"},
		{"success with reasons", "success with 1 reasons"},
		{"success with waiting", "success with 0 reasons and 1 waiting"},
		{"a string", "is a string, want an object"},
		{"conflict", "eval_conflict_error"},
		{"undefined", "undefined"},
		{"builtin error", "to_number"},
		{"passes a string", "passes is a string"},
		{"passes of numbers", "passes[1] is a number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), map[string]any{"case": c.name})
			if !errors.Is(err, gatekeeper.ErrPolicy) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), rev) {
				t.Errorf("Evaluate error = %v, want ErrPolicy containing %q and revision %s", err, c.wantErr, rev)
			}
			if d.State != "" {
				t.Errorf("Evaluate state = %q, want none (never success)", d.State)
			}
		})
	}
	t.Run("well-formed cases decode", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name string
			want gatekeeper.Decision
		}{
			{"success", gatekeeper.Decision{State: gatekeeper.Success, Reasons: []string{}, Waiting: []string{}, Channel: "stable", PolicyRevision: rev}},
			{"sets", gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"a", "b"}, Waiting: []string{}, PolicyRevision: rev}},
			// passes is optional: left out (every case above) or null, none.
			{"passes null", gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"evidence"}, PolicyRevision: rev}},
			{"passes", gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"evidence"}, Passes: []string{"a", "b"}, PolicyRevision: rev}},
		} {
			got, err := e.Evaluate(context.Background(), map[string]any{"case": c.name})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.name, diff)
			}
		}
	})
}

func TestEvaluateCancelledIsNotAPolicyError(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Evaluate(ctx, input(evidence(t)))
	if !errors.Is(err, context.Canceled) || errors.Is(err, gatekeeper.ErrPolicy) {
		t.Errorf("Evaluate with a cancelled context = %v, want context.Canceled, not ErrPolicy", err)
	}
}

func TestEvaluateDuringReload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy})
	e := load(t, dir)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Evaluate(ctx, map[string]any{})
				if err != nil || d.State != gatekeeper.Pending || d.PolicyRevision == "" {
					errs <- err
					return
				}
			}
		})
	}
	for i := range 20 {
		// Alternate between two good revisions.
		writeFile(t, filepath.Join(dir, "data.json"), `{"n": `+string(rune('0'+i%2))+`}`)
		if _, err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Evaluate during Reload: %v", err)
	}
}

func TestWatchPicksUpEdits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := writePolicy(t, map[string]string{"decision.rego": pendingPolicy})
	e := load(t, dir)
	old := e.Revision()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Watch(ctx, 5*time.Millisecond, nil)
	}()
	writeFile(t, filepath.Join(dir, "data.json"), `{"edited": true}`)
	// Wait for the change, however long the shared machine takes; the
	// test's own deadline is the only bound.
	for e.Revision() == old {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
