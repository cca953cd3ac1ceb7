package gatekeeper_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// summarized is a policy error that says where the policy is wrong, as the
// opa engine's errors do.
type summarized struct{ text, summary string }

func (e summarized) Error() string         { return e.text }
func (e summarized) PolicySummary() string { return e.summary }

// TestBrokenPolicyStatus: a broken policy's status starts "policy error:"
// with where the policy is wrong, whole and once, within GitHub's 140
// characters; the record keeps the full error and what the last good
// revision said, marked as such.
func TestBrokenPolicyStatus(t *testing.T) {
	t.Parallel()
	lastGood := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval", "Jenkins PR-merge build of ec26c3e"}, PolicyRevision: "aaaaaaaaaaaa"}
	ev := gatekeepertest.NewEvaluator(lastGood, "aaaaaaaaaaaa")
	full := "policy revision 3fa2c1e9abcd does not load: parsing: 1 error occurred during loading: /srv/policies/decision.rego:12: rego_parse_error: unexpected eof token; last good revision aaaaaaaaaaaa said pending"
	ev.Decide(lastGood, summarized{text: full, summary: "decision.rego:12: unexpected eof token: non-terminated object (+1 more)"})
	h := start(t, ev)
	h.accept(t, opened(head, t0))
	st := h.wait(t, 1)[0].Status
	want := "policy error: decision.rego:12: unexpected eof token: non-terminated object (+1 more)"
	if st.State != gatekeeper.Error || st.Description != want {
		t.Errorf("status %q %q, want error %q", st.State, st.Description, want)
	}
	if n := strings.Count(strings.ToLower(st.Description), "error:"); n != 1 {
		t.Errorf("%q says error %d times", st.Description, n)
	}
	h.settle(t)
	recs, err := h.store.Decisions(context.Background(), key, 1)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	d := recs[0].Decision
	if len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], full) {
		t.Errorf("reasons %q, want the full error for the page", d.Reasons)
	}
	if d.LastGood == nil || d.LastGood.State != gatekeeper.Pending || len(d.LastGood.Waiting) != 2 || d.LastGood.PolicyRevision != "aaaaaaaaaaaa" {
		t.Errorf("last good decision %+v, want what revision aaaaaaaaaaaa said", d.LastGood)
	}
}

func TestPolicyErrorDescription(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("decision.rego:12: rego_type_error: undefined function ", 5)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "summary", err: summarized{"x", "evaluation took longer than 1s"}, want: "policy error: evaluation took longer than 1s"},
		{name: "long summary is cut", err: summarized{"x", long}, want: ""},
		{name: "no summary says where to look", err: errors.New("dial tcp 10.0.0.1:443: refused"), want: "policy error: see the details page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{}, "r")
			ev.Decide(gatekeeper.Decision{}, tt.err)
			h := start(t, ev)
			h.accept(t, opened(head, t0))
			got := h.wait(t, 1)[0].Status.Description
			if utf8.RuneCountInString(got) > gatekeeper.MaxDescription || !strings.HasPrefix(got, "policy error: ") {
				t.Errorf("description %q", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("description %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "10.0.0.1") {
				t.Errorf("description %q carries outside error text", got)
			}
		})
	}
}

// TestForeignGateNamedWithPolicyError: while the policy is broken the
// status says so first, and still names someone else's release-gate.
func TestForeignGateNamedWithPolicyError(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{}, "rev1")
	ev.Decide(gatekeeper.Decision{}, summarized{"x", "decision.rego:3: unexpected eof token"})
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(7, head, t0))
	quiet(t, h, gh)
	_, err := h.svc.Accept(context.Background(), gatekeeper.Event{Name: "check_run.completed", SHA: head, Repo: acmeShop,
		Check: &gatekeeper.Check{Kind: "check_run", Name: "release-gate", SHA: head, State: "success", UpdatedAt: t0.Add(time.Hour), Creator: "github-actions"}})
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, h, gh)
	posts := gh.list()
	last := posts[len(posts)-1].St
	want := "policy error: decision.rego:3: unexpected eof token; a release-gate check run from someone else (github-actions) is on this commit"
	if last.State != gatekeeper.Error || last.Description != want {
		t.Errorf("status %s %q, want error %q", last.State, last.Description, want)
	}
}
