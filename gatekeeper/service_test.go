package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

var (
	key  = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 7}
	t0   = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
)

func opened(sha string, at time.Time) gatekeeper.Event {
	return gatekeeper.Event{
		Name: "pull_request.opened", Key: key, SHA: sha,
		PullRequest: &gatekeeper.PullRequest{Key: key, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: sha, Author: "dev", UpdatedAt: at},
	}
}

// acmeShop is the repository of key, as status and check_run events name it.
var acmeShop = &gatekeeper.Repo{Owner: "acme", Name: "shop"}

// harness is a Service on the hand-written fakes, with its workers running.
type harness struct {
	svc   *gatekeeper.Service
	store *gatekeepertest.Store
	pub   *gatekeepertest.Publisher
	stop  func() // stops the workers; also run when the test ends
}

func start(t *testing.T, ev gatekeeper.Evaluator, sources ...gatekeeper.Source) *harness {
	t.Helper()
	return startWith(t, gatekeeper.Options{Evaluator: ev, Sources: sources})
}

// startWith runs a Service on o, filling in the fake Store and Publisher
// and the test's settings where o leaves them unset; the workers stop when
// the test ends (or when the returned stop is called).
func startWith(t *testing.T, o gatekeeper.Options) *harness {
	t.Helper()
	if o.Store == nil {
		o.Store = gatekeepertest.NewStore(gatekeeper.SystemClock{})
	}
	if o.Publisher == nil {
		o.Publisher = gatekeepertest.NewPublisher(false)
	}
	o.Gated = gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}
	o.PublicURL = "https://gate.example/"
	if o.Workers == 0 {
		o.Workers = 4
	}
	o.RetryMin, o.RetryMax, o.SourceErrorLimit = 5*time.Millisecond, 20*time.Millisecond, 3
	if o.Debounce == 0 {
		o.Debounce = time.Millisecond
	}
	svc, stop := runService(t, o)
	h := &harness{svc: svc, store: o.Store.(*gatekeepertest.Store), stop: stop}
	h.pub, _ = o.Publisher.(*gatekeepertest.Publisher) // nil for a test's own Publisher
	return h
}

// runService runs a Service on o until the returned stop is called or the
// test ends; stop returns once Run has.
func runService(t *testing.T, o gatekeeper.Options) (*gatekeeper.Service, func()) {
	t.Helper()
	svc, err := gatekeeper.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return svc, stop
}

func (h *harness) accept(t *testing.T, e gatekeeper.Event) gatekeeper.Outcome {
	t.Helper()
	out, err := h.svc.Accept(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wait returns the first n statuses, failing after 10s (a bound on a hung
// test, not a performance assertion).
func (h *harness) wait(t *testing.T, n int) []gatekeepertest.Published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := h.pub.Wait(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// settle waits until the pull request has left the queue.
func (h *harness) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, queued, _ := h.store.Generation(context.Background(), key); !queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("pull request never left the queue")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	success := gatekeeper.Decision{State: gatekeeper.Success, Channel: "stable"}
	tests := []struct {
		name      string
		decision  gatekeeper.Decision
		policyErr error
		source    error
		noPull    bool
		want      gatekeeper.State
		wantDesc  string
	}{
		{name: "success stands on complete evidence", decision: success, want: gatekeeper.Success, wantDesc: "All release checks pass (channel stable)"},
		{name: "policy error is error", decision: success, policyErr: errors.New("rego_type_error"), want: gatekeeper.Error},
		{name: "success with a reason is failure", decision: gatekeeper.Decision{State: gatekeeper.Success, Reasons: []string{"QA said NOGO"}}, want: gatekeeper.Failure, wantDesc: "Failing: QA said NOGO"},
		{name: "success while waiting is pending", decision: gatekeeper.Decision{State: gatekeeper.Success, Waiting: []string{"SRE approval"}}, want: gatekeeper.Pending, wantDesc: "Waiting for: SRE approval"},
		{name: "unknown state is error", decision: gatekeeper.Decision{State: "ok"}, want: gatekeeper.Error},
		{name: "a failing source turns success into error after the limit", decision: success, source: errors.New("jenkins: 500"), want: gatekeeper.Error},
		// GitHub shows a status description to everyone who sees the
		// commit: another system's error text (host names, URLs) stays on
		// the signed-in page.
		{name: "a failing source's error text is not in the status", decision: success,
			source: errors.New(`Get "https://jenkins.corp.internal:8443/job/x/api/json": dial tcp 10.1.2.3:8443: connect: connection refused`),
			want:   gatekeeper.Error, wantDesc: "Error: jenkins evidence unavailable (3 tries)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := gatekeepertest.NewEvaluator(tc.decision, "rev1")
			ev.Decide(tc.decision, tc.policyErr)
			var sources []gatekeeper.Source
			if tc.source != nil {
				sources = append(sources, &source{name: "jenkins", err: tc.source})
			}
			h := start(t, ev, sources...)
			h.accept(t, opened(head, t0))
			var last gatekeepertest.Published
			deadline := time.Now().Add(10 * time.Second)
			for {
				got := h.pub.Published()
				if len(got) > 0 {
					last = got[len(got)-1]
					if last.Status.State == tc.want {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("statuses %+v, want a final %s", got, tc.want)
				}
				time.Sleep(2 * time.Millisecond)
			}
			if tc.wantDesc != "" && last.Status.Description != tc.wantDesc {
				t.Errorf("description %q, want %q", last.Status.Description, tc.wantDesc)
			}
			for _, p := range h.pub.Published() {
				if tc.want != gatekeeper.Success && p.Status.State == gatekeeper.Success {
					t.Errorf("a success was published on the way: %+v", p)
				}
			}
		})
	}
}

func TestSourceErrorIsPendingFirst(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1")
	h := start(t, ev, &source{name: "jenkins", err: errors.New("connection refused")})
	h.accept(t, opened(head, t0))
	first := h.wait(t, 1)[0].Status
	if first.State != gatekeeper.Pending || first.Description != "Waiting for: jenkins evidence unavailable (1 tries)" {
		t.Errorf("first status %+v, want pending naming the source", first)
	}
}

func TestNoPullSnapshotNeverPasses(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Success}, "rev1")
	// The GitHub source answers but, like a pull request GitHub no
	// longer has, brings no snapshot.
	h := start(t, ev, &source{name: "github"})
	// A comment arrives for a pull request the gatekeeper has not seen.
	h.accept(t, gatekeeper.Event{Name: "issue_comment.created", Key: key, Comment: &gatekeeper.Comment{ID: 1, User: "qa", Body: "/go"}})
	h.settle(t)
	if got := h.pub.Published(); len(got) != 0 {
		t.Errorf("published %+v without knowing the head commit", got)
	}
	recs, _ := h.store.Decisions(context.Background(), key, 1)
	if len(recs) != 1 || recs[0].Decision.State != gatekeeper.Pending {
		t.Fatalf("decisions %+v, want one pending", recs)
	}
	if recs[0].Decision.Waiting[0] != "pull request details from GitHub" {
		t.Errorf("waiting %v", recs[0].Decision.Waiting)
	}
}

func TestPublishesOnlyChanges(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}, "rev1")
	h := start(t, ev)
	h.accept(t, opened(head, t0))
	h.wait(t, 1)
	h.settle(t)
	h.accept(t, gatekeeper.Event{Name: "pull_request.labeled", Key: key, PullRequest: opened(head, t0.Add(time.Minute)).PullRequest})
	h.settle(t)
	if n := len(h.pub.Published()); n != 1 {
		t.Errorf("%d statuses for an unchanged decision, want 1", n)
	}
	// A push is a new commit: it gets its own status even with the same words.
	h.accept(t, opened("1111111111111111111111111111111111111111", t0.Add(2*time.Minute)))
	got := h.wait(t, 2)
	if got[1].SHA != "1111111111111111111111111111111111111111" {
		t.Errorf("second status on %s, want the new head", got[1].SHA)
	}
	want := gatekeeper.Status{Context: "release-gate", State: gatekeeper.Pending, Description: "Waiting for: QA approval", TargetURL: "https://gate.example/pulls/acme/shop/7"}
	if diff := cmp.Diff(want, got[1].Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestPublishRetriedUntilSent(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}, "rev1")
	h := start(t, ev)
	h.pub.Fail(errors.New("502 Bad Gateway"))
	h.accept(t, opened(head, t0))
	// Several failed attempts: the pull request stays queued.
	for i := 0; i < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		if _, queued, _ := h.store.Generation(context.Background(), key); !queued {
			t.Fatal("left the queue while its status was not sent")
		}
	}
	h.pub.Fail(nil)
	h.wait(t, 1)
	h.settle(t)
}

func TestAcceptRouting(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"))
	ctx := context.Background()

	comment := gatekeeper.Event{Name: "issue_comment.created", Key: key, Comment: &gatekeeper.Comment{ID: 1, Body: "/go"}}
	if got := h.accept(t, comment); got != gatekeeper.Ignored {
		t.Errorf("comment on an unknown pull request with no source to look it up: %s, want ignored", got)
	}

	other := opened(head, t0)
	other.PullRequest.HeadRef, other.PullRequest.BaseRef = "feature/x", "develop"
	if got := h.accept(t, other); got != gatekeeper.Ignored {
		t.Errorf("pull request into a base that is not gated: %s, want ignored", got)
	}
	if _, err := h.store.Evidence(ctx, key); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("an ignored event was stored: %v", err)
	}
	status := gatekeeper.Event{Name: "status", SHA: head, Check: &gatekeeper.Check{Name: "ci", SHA: head, State: "success"}, Repo: acmeShop}
	if got := h.accept(t, status); got != gatekeeper.Ignored {
		t.Errorf("status for an unknown sha: %s, want ignored", got)
	}

	e := opened(head, t0)
	e.Delivery = "d-1"
	if got := h.accept(t, e); got != gatekeeper.Accepted {
		t.Fatalf("gated pull request: %s", got)
	}
	if got := h.accept(t, e); got != gatekeeper.Duplicate {
		t.Errorf("same delivery again: %s, want duplicate", got)
	}
	if got := h.accept(t, status); got != gatekeeper.Accepted {
		t.Errorf("status for the known head: %s, want accepted", got)
	}
	if got := h.accept(t, comment); got != gatekeeper.Accepted {
		t.Errorf("comment on a known pull request: %s, want accepted", got)
	}
	// Retargeted away from master: still tracked, so its status is not abandoned.
	if got := h.accept(t, other); got != gatekeeper.Accepted {
		t.Errorf("known pull request retargeted: %s, want accepted", got)
	}
}

// TestOneEvaluationPerPullAtATime holds the first evaluation while a burst of
// events arrives: the burst coalesces into one more evaluation, and no two
// evaluations of the pull request ever overlap.
func TestOneEvaluationPerPullAtATime(t *testing.T) {
	t.Parallel()
	ev := &gateEvaluator{release: make(chan struct{}), entered: make(chan struct{}, 100)}
	h := start(t, ev)
	h.accept(t, opened(head, t0))
	<-ev.entered // the first evaluation is running and held
	for i := 1; i <= 20; i++ {
		e := opened(head, t0.Add(time.Duration(i)*time.Second))
		e.PullRequest.Labels = []string{fmt.Sprint("label-", i)}
		h.accept(t, e)
	}
	close(ev.release)
	h.settle(t)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.maxRunning != 1 {
		t.Errorf("%d evaluations of one pull request ran at once", ev.maxRunning)
	}
	if ev.calls != 2 {
		t.Errorf("%d evaluations for a burst, want 2 (the held one and one coalesced)", ev.calls)
	}
	// The coalesced evaluation saw the end of the burst.
	if got := ev.lastInput.PullRequest.Labels; !cmp.Equal(got, []string{"label-20"}) {
		t.Errorf("the last evaluation saw labels %v, want the burst's last, [label-20]", got)
	}
}

// gateEvaluator holds every evaluation until release is closed, and counts
// how many ran at once.
type gateEvaluator struct {
	release chan struct{}
	entered chan struct{}

	mu                         sync.Mutex
	running, maxRunning, calls int
	lastInput                  *gatekeeper.Input
}

func (g *gateEvaluator) Evaluate(ctx context.Context, in any) (gatekeeper.Decision, error) {
	g.mu.Lock()
	g.running++
	g.calls++
	g.lastInput, _ = in.(*gatekeeper.Input)
	if g.running > g.maxRunning {
		g.maxRunning = g.running
	}
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
	return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"x"}}, nil
}
func (g *gateEvaluator) Revision() string { return "gate" }
func (g *gateEvaluator) Ready() error     { return nil }

// source is a gatekeeper.Source that always fails with err.
type source struct {
	name string
	err  error
}

func (s *source) Name() string { return s.name }
func (s *source) Gather(context.Context, *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	return nil, s.err
}

// responder records the answers it was asked to give.
type responder struct {
	mu      sync.Mutex
	answers []string
}

func (r *responder) Answer(_ context.Context, _ gatekeeper.PullKey, id int64, verdict, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, fmt.Sprintf("%d:%s:%s", id, verdict, why))
	return nil
}

func (r *responder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.answers...)
}

func TestVotesAnsweredOncePerVerdict(t *testing.T) {
	t.Parallel()
	refused := gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"GO vote by QA"},
		Votes: []gatekeeper.VoteVerdict{{CommentID: 9, User: "qa", Verdict: "refused", Why: "a NOGO needs a reason"}}}
	ev := gatekeepertest.NewEvaluator(refused, "rev1")
	resp := &responder{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Publisher: gatekeepertest.NewPublisher(true), Responder: resp})

	h.accept(t, opened(head, t0))
	h.settle(t)
	h.accept(t, gatekeeper.Event{Name: "pull_request.labeled", Key: key, PullRequest: opened(head, t0.Add(time.Minute)).PullRequest})
	h.settle(t)
	ev.Decide(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"x"},
		Votes: []gatekeeper.VoteVerdict{{CommentID: 9, User: "qa", Verdict: "counted"}}}, nil)
	h.accept(t, gatekeeper.Event{Name: "issue_comment.edited", Key: key, Comment: &gatekeeper.Comment{ID: 9, User: "qa", Body: "/nogo broken checkout"}})
	h.settle(t)
	want := []string{"9:refused:a NOGO needs a reason", "9:counted:"}
	if diff := cmp.Diff(want, resp.got()); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestForgedStatusIsPostedAgain(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"coverage 71% below 80%"}}, "rev1")
	h := start(t, ev)
	h.accept(t, opened(head, t0))
	first := h.wait(t, 1)[0].Status
	h.settle(t)
	// Our own status comes back from GitHub: nothing to do.
	h.accept(t, gatekeeper.Event{Name: "status", SHA: head, Repo: acmeShop, Check: &gatekeeper.Check{Kind: "status", Name: "release-gate", SHA: head,
		State: string(first.State), Description: first.Description, UpdatedAt: t0.Add(time.Minute)}})
	h.settle(t)
	if n := len(h.pub.Published()); n != 1 {
		t.Fatalf("%d posts after our own status echoed back, want 1", n)
	}
	// Someone sets release-gate to success by hand: it is corrected.
	h.accept(t, gatekeeper.Event{Name: "status", SHA: head, Repo: acmeShop, Check: &gatekeeper.Check{Kind: "status", Name: "release-gate", SHA: head,
		State: "success", Description: "LGTM", UpdatedAt: t0.Add(2 * time.Minute)}})
	got := h.wait(t, 2)
	if got[1].Status != first {
		t.Errorf("after a forged success, posted %+v, want %+v again", got[1].Status, first)
	}
}

func TestDryRunRecordDoesNotSuppressARealPost(t *testing.T) {
	t.Parallel()
	store := gatekeepertest.NewStore(gatekeeper.SystemClock{})
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}, "rev1")
	run := func(pub *gatekeepertest.Publisher, events ...gatekeeper.Event) {
		h := startWith(t, gatekeeper.Options{Store: store, Evaluator: ev, Publisher: pub})
		defer h.stop()
		for _, e := range events {
			h.accept(t, e)
		}
		h.wait(t, 1)
		h.settle(t)
	}
	run(gatekeepertest.NewPublisher(true), opened(head, t0))
	real := gatekeepertest.NewPublisher(false)
	// Restarted with a token; the decision has not changed.
	run(real, gatekeeper.Event{Name: "pull_request.labeled", Key: key, PullRequest: opened(head, t0.Add(time.Minute)).PullRequest})
	if n := len(real.Published()); n != 1 {
		t.Errorf("%d real posts after a dry run, want 1", n)
	}
}

// notifier records the notifications it was asked to send.
type notifier struct {
	mu   sync.Mutex
	sent []string
}

func (n *notifier) Notify(_ context.Context, note gatekeeper.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, fmt.Sprintf("%s->%s", note.From, note.To))
	return nil
}

func (n *notifier) got() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

// TestNotifiesStateChangesThatMatter: #production hears when the gate turns
// ready, blocked or errored, or stops being ready, not about every pending.
func TestNotifiesStateChangesThatMatter(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}, "rev1")
	nt := &notifier{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Notifier: nt})
	step := func(n int, d gatekeeper.Decision) {
		ev.Decide(d, nil)
		h.accept(t, gatekeeper.Event{Name: "pull_request.edited", Key: key, PullRequest: opened(head, t0.Add(time.Duration(n)*time.Minute)).PullRequest})
		h.wait(t, n)
		h.settle(t)
	}
	h.accept(t, opened(head, t0))
	h.wait(t, 1)
	h.settle(t)
	step(2, gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"SRE approval"}})
	step(3, gatekeeper.Decision{State: gatekeeper.Success, Channel: "stable"})
	step(4, gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"Jenkins build of 1111111"}})
	step(5, gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"QA veto by qa-carol: smoke red"}})
	want := []string{"pending->success", "success->pending", "pending->failure"}
	if diff := cmp.Diff(want, nt.got()); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

// countingEvaluator counts evaluations.
type countingEvaluator struct {
	mu    sync.Mutex
	calls int
}

func (c *countingEvaluator) Evaluate(context.Context, any) (gatekeeper.Decision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"QA approval"}}, nil
}
func (c *countingEvaluator) Revision() string { return "count" }
func (c *countingEvaluator) Ready() error     { return nil }

// TestBurstIsOneEvaluation: a push brings a burst of webhooks; they are
// taken in one evaluation after the debounce, not one each.
func TestBurstIsOneEvaluation(t *testing.T) {
	t.Parallel()
	ev := &countingEvaluator{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Debounce: 300 * time.Millisecond})
	for i := 0; i < 10; i++ {
		h.accept(t, opened(head, t0.Add(time.Duration(i)*time.Second)))
	}
	calls := func() int {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.calls
	}
	if n := calls(); n != 0 {
		t.Errorf("%d evaluations during the debounce, want 0", n)
	}
	h.settle(t)
	if n := calls(); n != 1 {
		t.Errorf("%d evaluations for a burst of 10 events, want 1", n)
	}
	// The one evaluation saw the whole burst: ten events, versions 1 to 10.
	recs, _ := h.store.Decisions(context.Background(), key, 1)
	if len(recs) != 1 || recs[0].EvidenceVersion < 10 {
		t.Errorf("decisions %+v, want one made on evidence version 10 or later", recs)
	}
}

// failingResponder cannot answer (a token without write access).
type failingResponder struct{}

func (failingResponder) Answer(context.Context, gatekeeper.PullKey, int64, string, string) error {
	return errors.New("403 Resource not accessible by integration")
}

// TestFailingVoteAnswerDoesNotHoldTheGate: the status is posted and the pull
// request leaves the queue although the answer could not be given.
func TestFailingVoteAnswerDoesNotHoldTheGate(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"QA veto by qa-carol: smoke red"},
		Votes: []gatekeeper.VoteVerdict{{CommentID: 9, User: "qa-carol", Verdict: "counted"}}}, "rev1")
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Responder: failingResponder{}})
	h.accept(t, opened(head, t0))
	h.wait(t, 1)
	h.settle(t)
}

// TestUnchangedDecisionIsRecordedOnce: the history keeps changes, not every
// evaluation. The policy returns empty lists (votes: [], reasons: []), which
// come back from the store as absent; they are still the same decision.
func TestUnchangedDecisionIsRecordedOnce(t *testing.T) {
	t.Parallel()
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{},
		Waiting: []string{"QA approval"}, Votes: []gatekeeper.VoteVerdict{}}, "rev1")
	h := startWith(t, gatekeeper.Options{Evaluator: ev})
	for i := 0; i < 3; i++ {
		h.accept(t, gatekeeper.Event{Name: "pull_request.edited", Key: key, PullRequest: opened(head, t0.Add(time.Duration(i)*time.Minute)).PullRequest})
		h.settle(t)
	}
	recs, err := h.store.Decisions(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Errorf("%d decision records for one unchanged decision, want 1", len(recs))
	}
}

// TestAcceptBuildOfUntrackedPull: a Jenkins build of a pull request the
// gatekeeper does not track (a repository nothing gates, a feature pull
// request) never starts tracking it, even with sources that could look it
// up: that would ask GitHub about it again and again. Once GitHub said the
// pull request is gated, its builds are taken.
func TestAcceptBuildOfUntrackedPull(t *testing.T) {
	t.Parallel()
	h := start(t, gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "rev1"), &source{name: "github"})
	ctx := context.Background()
	build := gatekeeper.Event{Name: "jenkins.completed", Delivery: "j-1", Key: key, Build: &gatekeeper.Build{
		JobPath: "job/acme/job/shop/job/PR-7-merge", Number: 3, Key: key, Phase: "COMPLETED", Result: "SUCCESS",
	}}
	if got := h.accept(t, build); got != gatekeeper.Ignored {
		t.Errorf("build of an untracked pull request: %s, want ignored", got)
	}
	if _, err := h.store.Evidence(ctx, key); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("the ignored build started tracking the pull request: %v", err)
	}
	if got := h.accept(t, opened(head, t0)); got != gatekeeper.Accepted {
		t.Fatalf("gated pull request: %s", got)
	}
	if got := h.accept(t, build); got != gatekeeper.Accepted {
		t.Errorf("build of a tracked pull request: %s, want accepted", got)
	}
}

// A person's refused commands are answered once, however many they post
// (a stranger's thirty /go would otherwise be thirty replies, spending the
// token's content-creation budget at the stranger's pace); a refusal of
// another person, or a counted vote, is still answered.
func TestRefusalsAnsweredOncePerPerson(t *testing.T) {
	t.Parallel()
	refuse := func(id int64, user string) gatekeeper.Decision {
		return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"GO vote by QA"},
			Votes: []gatekeeper.VoteVerdict{{CommentID: id, User: user, Verdict: "refused", Why: "only holders of a release role vote"}}}
	}
	ev := gatekeepertest.NewEvaluator(refuse(1, "stranger-sam"), "rev1")
	resp := &responder{}
	h := startWith(t, gatekeeper.Options{Evaluator: ev, Publisher: gatekeepertest.NewPublisher(true), Responder: resp})
	h.accept(t, opened(head, t0))
	for i := int64(1); i <= 3; i++ {
		ev.Decide(refuse(i, "stranger-sam"), nil)
		h.accept(t, gatekeeper.Event{Name: "issue_comment.created", Key: key, Comment: &gatekeeper.Comment{ID: i, User: "stranger-sam", Body: "/go", CreatedAt: t0.Add(time.Duration(i) * time.Second), UpdatedAt: t0.Add(time.Duration(i) * time.Second)}})
		h.settle(t)
	}
	ev.Decide(refuse(7, "other-olga"), nil)
	h.accept(t, gatekeeper.Event{Name: "issue_comment.created", Key: key, Comment: &gatekeeper.Comment{ID: 7, User: "other-olga", Body: "/go", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}})
	h.settle(t)
	want := []string{"1:refused:only holders of a release role vote", "7:refused:only holders of a release role vote"}
	if diff := cmp.Diff(want, resp.got()); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}
