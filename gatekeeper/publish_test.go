package gatekeeper_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// byNumber is an Evaluator that decides per pull request number, so that
// two pull requests on one head can disagree.
type byNumber struct {
	mu        sync.Mutex
	decisions map[int]gatekeeper.Decision
}

func (b *byNumber) set(n int, d gatekeeper.Decision) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decisions[n] = d
}

func (b *byNumber) Evaluate(_ context.Context, input any) (gatekeeper.Decision, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	if in, _ := input.(*gatekeeper.Input); in != nil && in.PullRequest != nil {
		n = in.PullRequest.Number
	}
	d, ok := b.decisions[n]
	if !ok {
		return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a decision for #" + fmt.Sprint(n)}}, nil
	}
	d.Reasons = append([]string(nil), d.Reasons...)
	d.Waiting = append([]string(nil), d.Waiting...)
	return d, nil
}

func (b *byNumber) Revision() string { return "rev1" }
func (b *byNumber) Ready() error     { return nil }

// echoGitHub is a Publisher that behaves like GitHub behind the token
// "gatekeeper-bot": every status it is asked to post lands on the commit
// and comes back as a status webhook (sender: the token's login), the way
// GitHub delivers it to the gatekeeper's own hook.
type echoGitHub struct {
	login string
	svc   *gatekeeper.Service // set once the Service exists

	mu    sync.Mutex
	posts []echoPost
	seq   int
}

type echoPost struct {
	Key gatekeeper.PullKey
	SHA string
	St  gatekeeper.Status
}

func (g *echoGitHub) Publish(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	g.mu.Lock()
	g.posts = append(g.posts, echoPost{key, sha, st})
	g.seq++
	at := t0.Add(time.Duration(g.seq) * time.Second)
	svc := g.svc
	g.mu.Unlock()
	if svc != nil {
		_, err := svc.Accept(ctx, gatekeeper.Event{Name: "status", Repo: acmeShop, Delivery: fmt.Sprint("echo-", at.Unix()), SHA: sha,
			Check: &gatekeeper.Check{Kind: "status", Name: st.Context, SHA: sha, State: string(st.State),
				Description: st.Description, URL: st.TargetURL, UpdatedAt: at, Creator: g.login}})
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *echoGitHub) DryRun() bool { return false }

// Login is the creator GitHub names on the statuses this token posts.
func (g *echoGitHub) Login() string { return g.login }

func (g *echoGitHub) list() []echoPost {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]echoPost(nil), g.posts...)
}

// handSet is a status someone else sets in the gatekeeper's context.
func (g *echoGitHub) handSet(t *testing.T, login string, state gatekeeper.State, desc string) {
	t.Helper()
	g.mu.Lock()
	g.seq++
	at := t0.Add(time.Duration(g.seq) * time.Second)
	g.mu.Unlock()
	_, err := g.svc.Accept(context.Background(), gatekeeper.Event{Name: "status", Repo: acmeShop, SHA: head,
		Check: &gatekeeper.Check{Kind: "status", Name: "release-gate", SHA: head, State: string(state),
			Description: desc, UpdatedAt: at, Creator: login}})
	if err != nil {
		t.Fatal(err)
	}
}

// pullAt is pull request number n of acme/shop, open from staging into
// master, with head sha.
func pullAt(n int, sha string, at time.Time) gatekeeper.Event {
	k := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: n}
	return gatekeeper.Event{
		Name: "pull_request.opened", Key: k, SHA: sha,
		PullRequest: &gatekeeper.PullRequest{Key: k, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: sha, Author: "dev", UpdatedAt: at},
	}
}

// startEcho runs a Service publishing through an echoing GitHub.
func startEcho(t *testing.T, ev gatekeeper.Evaluator) (*harness, *echoGitHub) {
	t.Helper()
	gh := &echoGitHub{login: "gatekeeper-bot"}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Publisher: gh})
	gh.mu.Lock()
	gh.svc = h.svc
	gh.mu.Unlock()
	return h, gh
}

// quiet waits until no pull request is queued and nothing was posted for
// a while; it gives up after 3s, which a status war never reaches.
func quiet(t *testing.T, h *harness, gh *echoGitHub) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		q, err := h.store.Queued(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n := len(gh.list())
		if n != last {
			last, since = n, time.Now()
		}
		if len(q) == 0 && time.Since(since) > 150*time.Millisecond {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoPullsOneHeadNoStatusWar: two open release pull requests on one
// head, one failing and one pending. GitHub echoes every post back as a
// status webhook. The review saw 219 posts in 2 s; the posts must be
// bounded, the status the worst of the two naming both, and a repeated
// evaluation of the settled pair posts nothing.
func TestTwoPullsOneHeadNoStatusWar(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{
		2: {State: gatekeeper.Failure, Reasons: []string{"coverage 71% below 80%"}},
		5: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}},
	}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(2, head, t0))
	h.accept(t, pullAt(5, head, t0))
	quiet(t, h, gh)
	posts := gh.list()
	if len(posts) == 0 || len(posts) > 3 {
		t.Fatalf("%d status posts for two pull requests on one head, want 1 to 3", len(posts))
	}
	want := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Failure,
		Description: "#2: Failing: coverage 71% below 80%; #5: Waiting for: QA approval",
		TargetURL:   "https://gate.example/pulls/acme/shop/2"}
	if diff := cmp.Diff(want, posts[len(posts)-1].St); diff != "" {
		t.Errorf("status on the shared head (-want +got):\n%s", diff)
	}

	// Settled: more events and evaluations of both post nothing.
	n := len(posts)
	for i := 1; i <= 3; i++ {
		h.accept(t, pullAt(2, head, t0.Add(time.Duration(i)*time.Minute)))
		h.accept(t, pullAt(5, head, t0.Add(time.Duration(i)*time.Minute)))
	}
	quiet(t, h, gh)
	if got := len(gh.list()); got != n {
		t.Errorf("%d posts after re-evaluating a settled pair, want none", got-n)
	}
}

// TestClosedPullNeverPosts: a closed pull request gets no status, also
// when it shares its head with an open one, whose status is its own.
func TestClosedPullNeverPosts(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{
		2: {State: gatekeeper.Failure, Reasons: []string{"pull request is closed"}},
		5: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}},
	}}
	h, gh := startEcho(t, ev)
	closed := pullAt(2, head, t0)
	closed.Name, closed.PullRequest.State = "pull_request.closed", "closed"
	h.accept(t, closed)
	quiet(t, h, gh)
	if posts := gh.list(); len(posts) != 0 {
		t.Fatalf("a closed pull request posted %+v", posts)
	}
	// The release reopened as #5 on the same head.
	h.accept(t, pullAt(5, head, t0.Add(time.Minute)))
	quiet(t, h, gh)
	posts := gh.list()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1: %+v", len(posts), posts)
	}
	want := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending,
		Description: "Waiting for: QA approval", TargetURL: "https://gate.example/pulls/acme/shop/5"}
	if diff := cmp.Diff(want, posts[0].St); diff != "" {
		t.Errorf("status of the open pull request (-want +got):\n%s", diff)
	}
}

// TestClosingOnePullUpdatesTheSharedHead: while #2 and #5 share a head the
// status names both; once #2 is closed the status is #5's alone.
func TestClosingOnePullUpdatesTheSharedHead(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{
		2: {State: gatekeeper.Failure, Reasons: []string{"NOGO from qa-lead"}},
		5: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}},
	}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(2, head, t0))
	h.accept(t, pullAt(5, head, t0))
	quiet(t, h, gh)
	closed := pullAt(2, head, t0.Add(time.Minute))
	closed.Name, closed.PullRequest.State = "pull_request.closed", "closed"
	h.accept(t, closed)
	quiet(t, h, gh)
	posts := gh.list()
	last := posts[len(posts)-1]
	if last.St.State != gatekeeper.Pending || last.St.Description != "Waiting for: QA approval" {
		t.Errorf("after closing #2 the head says %s %q, want #5's own pending", last.St.State, last.St.Description)
	}
	for _, p := range posts {
		if p.Key.Number == 2 && p.St.Description == "Failing: NOGO from qa-lead" {
			t.Errorf("#2 posted its own status: %+v", p)
		}
	}
}

// TestSharedHeadIsTheWorst: the status on a head that open gated pull
// requests share is the worst of their decisions (error > failure >
// pending > success), names each, and fits GitHub's 140 characters.
func TestSharedHeadIsTheWorst(t *testing.T) {
	t.Parallel()
	ok := gatekeeper.Decision{State: gatekeeper.Success}
	waiting := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}
	failing := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"coverage 71% below 80%"}}
	long := gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{strings.Repeat("a very long reason ", 10)}}
	tests := []struct {
		name      string
		decisions map[int]gatekeeper.Decision
		state     gatekeeper.State
		desc      string
		target    int
	}{
		{"pending beats success", map[int]gatekeeper.Decision{2: ok, 5: waiting}, gatekeeper.Pending,
			"#5: Waiting for: QA approval; #2: All release checks pass", 5},
		{"failure beats pending", map[int]gatekeeper.Decision{2: waiting, 5: failing}, gatekeeper.Failure,
			"#5: Failing: coverage 71% below 80%; #2: Waiting for: QA approval", 5},
		{"both pass", map[int]gatekeeper.Decision{2: ok, 5: ok}, gatekeeper.Success,
			"#2: All release checks pass; #5: All release checks pass", 2},
		{"long descriptions share the 140 characters", map[int]gatekeeper.Decision{2: long, 5: long}, gatekeeper.Failure, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, gh := startEcho(t, &byNumber{decisions: tt.decisions})
			h.accept(t, pullAt(2, head, t0))
			h.accept(t, pullAt(5, head, t0))
			quiet(t, h, gh)
			posts := gh.list()
			if len(posts) == 0 {
				t.Fatal("nothing posted")
			}
			got := posts[len(posts)-1].St
			if got.State != tt.state {
				t.Errorf("state %s, want %s", got.State, tt.state)
			}
			if tt.desc != "" && got.Description != tt.desc {
				t.Errorf("description %q, want %q", got.Description, tt.desc)
			}
			if n := len([]rune(got.Description)); n > gatekeeper.MaxDescription {
				t.Errorf("description of %d characters: %q", n, got.Description)
			}
			if !strings.HasPrefix(got.Description, "#2: ") || !strings.Contains(got.Description, "; #5: ") {
				if !strings.HasPrefix(got.Description, "#5: ") || !strings.Contains(got.Description, "; #2: ") {
					t.Errorf("description %q does not name both pull requests", got.Description)
				}
			}
			if want := fmt.Sprintf("https://gate.example/pulls/acme/shop/%d", tt.target); got.TargetURL != want {
				t.Errorf("target %s, want %s (the worst one's page)", got.TargetURL, want)
			}
		})
	}
}

// TestOwnStatusIsNeverAnOverwrite: a status in the gatekeeper's context
// that GitHub says the gatekeeper's own token created is never corrected,
// whatever it says (an older post of one pull request on the head).
func TestOwnStatusIsNeverAnOverwrite(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{7: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}}}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(7, head, t0))
	quiet(t, h, gh)
	if n := len(gh.list()); n != 1 {
		t.Fatalf("%d posts, want 1", n)
	}
	gh.handSet(t, "gatekeeper-bot", gatekeeper.Failure, "Failing: an older decision of ours")
	quiet(t, h, gh)
	if n := len(gh.list()); n != 1 {
		t.Errorf("our own status was taken for an overwrite: %d posts, want 1", n)
	}
}

// TestHandSetStatusIsCorrectedAndNamed: a release-gate status by another
// login is corrected, and the correction names who set it.
func TestHandSetStatusIsCorrectedAndNamed(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{7: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}}}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(7, head, t0))
	quiet(t, h, gh)
	gh.handSet(t, "hurried-manager", gatekeeper.Success, "LGTM")
	quiet(t, h, gh)
	posts := gh.list()
	if len(posts) < 2 {
		t.Fatalf("a hand-set success was not corrected: %+v", posts)
	}
	correction := posts[1].St
	if correction.State != gatekeeper.Failure || !strings.Contains(correction.Description, "hurried-manager") {
		t.Errorf("correction %s %q, want a failure naming hurried-manager", correction.State, correction.Description)
	}
	last := posts[len(posts)-1].St
	if last.State != gatekeeper.Pending || last.Description != "Waiting for: QA approval" {
		t.Errorf("once corrected the status is %s %q, want the decision again", last.State, last.Description)
	}
	if len(posts) > 3 {
		t.Errorf("%d posts for one hand-set status, want at most 3", len(posts))
	}
	recs, err := h.store.Decisions(context.Background(), gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 7}, 10)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, r := range recs {
		for _, reason := range r.Decision.Reasons {
			named = named || strings.Contains(reason, "release-gate status from someone else (hurried-manager)")
		}
	}
	if !named {
		t.Errorf("no decision on record names the hand-set status: %+v", recs)
	}
}

// TestForeignGateCheckRunIsNamed: a check run called release-gate comes
// from another app (the gatekeeper posts statuses, never check runs): it
// is never taken for the gatekeeper's own, and fails the gate by name.
func TestForeignGateCheckRunIsNamed(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{7: {State: gatekeeper.Success}}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(7, head, t0))
	quiet(t, h, gh)
	_, err := h.svc.Accept(context.Background(), gatekeeper.Event{Name: "check_run.completed", Repo: acmeShop, SHA: head,
		Check: &gatekeeper.Check{Kind: "check_run", Name: "release-gate", SHA: head, State: "success", UpdatedAt: t0.Add(time.Hour), Creator: "github-actions"}})
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, h, gh)
	posts := gh.list()
	last := posts[len(posts)-1].St
	want := "Failing: a release-gate check run from someone else (github-actions) is on this commit"
	if last.State != gatekeeper.Failure || last.Description != want {
		t.Errorf("status %s %q, want failure %q", last.State, last.Description, want)
	}
}

// TestAnotherBotInOurContextIsNoWar: another system answers every status
// of ours with its own in the same context (a second gatekeeper with
// another token, a misconfigured CI job). The gatekeeper corrects it, but
// with growing pauses: no war of posts.
func TestAnotherBotInOurContextIsNoWar(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{7: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}}}}
	gh := &echoGitHub{login: "gatekeeper-bot"}
	rival := &rivalBot{echoGitHub: gh}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Publisher: rival})
	gh.mu.Lock()
	gh.svc = h.svc
	gh.mu.Unlock()
	h.accept(t, pullAt(7, head, t0))
	time.Sleep(time.Second)
	posts := gh.list()
	if len(posts) < 2 {
		t.Fatalf("the rival's status was never corrected: %+v", posts)
	}
	if len(posts) > 3 {
		t.Errorf("%d posts in a second against another bot, want at most 3", len(posts))
	}
}

// rivalBot is GitHub with another bot that posts "success" in the
// gatekeeper's context right after each of the gatekeeper's posts.
type rivalBot struct{ *echoGitHub }

func (r *rivalBot) Publish(ctx context.Context, key gatekeeper.PullKey, sha string, st gatekeeper.Status) error {
	if err := r.echoGitHub.Publish(ctx, key, sha, st); err != nil {
		return err
	}
	r.mu.Lock()
	r.seq++
	at := t0.Add(time.Duration(r.seq) * time.Second)
	r.mu.Unlock()
	_, err := r.svc.Accept(ctx, gatekeeper.Event{Name: "status", Repo: acmeShop, SHA: sha,
		Check: &gatekeeper.Check{Kind: "status", Name: st.Context, SHA: sha, State: "success", Description: "all good", UpdatedAt: at, Creator: "other-gate[bot]"}})
	return err
}

// TestSharedHeadGatedPullsDecide: a pull request that is not a release
// (here one retargeted away from master after its first status) shares the
// release's head. The release's decision alone is the commit's status:
// anyone able to open a pull request at the same commit must not be able
// to hold the release.
func TestSharedHeadGatedPullsDecide(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{
		2: {State: gatekeeper.Pending, Waiting: []string{"QA approval"}},
		3: {State: gatekeeper.Failure, Reasons: []string{"staging into develop is not a gated branch pair"}},
	}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(3, "2222222222222222222222222222222222222222", t0))
	quiet(t, h, gh)
	retargeted := pullAt(3, head, t0.Add(time.Minute))
	retargeted.Name, retargeted.PullRequest.BaseRef = "pull_request.edited", "develop"
	h.accept(t, retargeted)
	h.accept(t, pullAt(2, head, t0.Add(time.Minute)))
	quiet(t, h, gh)
	var last *echoPost
	for _, p := range gh.list() {
		if p.SHA == head {
			last = &p
		}
	}
	want := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending,
		Description: "Waiting for: QA approval", TargetURL: "https://gate.example/pulls/acme/shop/2"}
	if last == nil {
		t.Fatal("nothing posted on the release's head")
	}
	if diff := cmp.Diff(want, last.St); diff != "" {
		t.Errorf("status on the shared head (-want +got):\n%s", diff)
	}
}

// TestForeignGateByCase: a status whose context differs from the
// gatekeeper's only in case, by someone else, is a claim on the gate too.
func TestForeignGateByCase(t *testing.T) {
	t.Parallel()
	ev := &byNumber{decisions: map[int]gatekeeper.Decision{7: {State: gatekeeper.Success}}}
	h, gh := startEcho(t, ev)
	h.accept(t, pullAt(7, head, t0))
	quiet(t, h, gh)
	_, err := h.svc.Accept(context.Background(), gatekeeper.Event{Name: "status", Repo: acmeShop, SHA: head,
		Check: &gatekeeper.Check{Kind: "status", Name: "Release-Gate", SHA: head, State: "success", UpdatedAt: t0.Add(time.Hour), Creator: "mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, h, gh)
	posts := gh.list()
	last := posts[len(posts)-1].St
	want := "Failing: a Release-Gate status from someone else (mallory) is on this commit"
	if last.State != gatekeeper.Failure || last.Description != want {
		t.Errorf("status %s %q, want failure %q", last.State, last.Description, want)
	}
}
