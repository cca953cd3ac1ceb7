package test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// stallingSource answers at once until stall is set, then takes a minute
// (or until its context ends) and fails: a Jenkins, GitHub or ZenHub that
// accepts connections and answers slowly, within each call's timeout.
type stallingSource struct {
	name  string
	stall *atomic.Bool
}

func (s stallingSource) Name() string { return s.name }
func (s stallingSource) Gather(ctx context.Context, _ *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	if !s.stall.Load() {
		return nil, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		return nil, context.DeadlineExceeded
	}
}

// TestAttackSlowSourceHoldsAnOldSuccess: the release passed and its
// status is success. Then an evidence source turns slow (answers within
// each call's timeout, but slowly: a Gather takes a minute), and QA casts
// a NOGO. The NOGO is in the evidence the moment its webhook is accepted;
// the status must stop saying success promptly, not once the slow source
// has finished (a slow policy is an error, not a stall: issue 7 item 15;
// the same must hold for a slow source).
func TestAttackSlowSourceHoldsAnOldSuccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	engine, err := opa.Load(ctx, policyCopy(t))
	if err != nil {
		t.Fatal(err)
	}
	ev := verifiedRelease()
	ev.Heads[0].At = attackAt.Add(-2 * time.Hour)
	for i := range ev.Comments {
		ev.Comments[i].CreatedAt = attackAt.Add(-90 * time.Minute)
		ev.Comments[i].UpdatedAt = ev.Comments[i].CreatedAt
	}
	var stall atomic.Bool
	first, svc, pub := firstStatus(t, gatekeeper.Options{
		Evaluator: engine,
		Sources:   []gatekeeper.Source{stallingSource{name: "jenkins", stall: &stall}, flakySource{name: "github"}},
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Workers:   2,
		RetryMin:  time.Second, RetryMax: time.Second, Debounce: -1, SourceErrorLimit: 3, Reconcile: time.Hour,
	}, ev, attackAt)
	got := []gatekeepertest.Published{first}
	if got[0].Status.State != gatekeeper.Success {
		t.Fatalf("the release does not pass: %s %q", got[0].Status.State, got[0].Status.Description)
	}

	stall.Store(true)
	nogo := gatekeeper.Event{Name: "issue_comment.created", Delivery: "nogo", Key: ev.Key, Received: attackAt,
		Comment: &gatekeeper.Comment{ID: 900, User: "qa-carol", Body: "/nogo payments flaky", CreatedAt: attackAt.Add(-time.Minute), UpdatedAt: attackAt.Add(-time.Minute)}}
	accepted := time.Now()
	if _, err := svc.Accept(ctx, nogo); err != nil {
		t.Fatal(err)
	}
	waitCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	got, err = pub.Wait(waitCtx, 2)
	if err != nil {
		t.Fatalf("20s after QA's NOGO was accepted the status still says success (a source is slow)")
	}
	if got[1].Status.State == gatekeeper.Success {
		t.Errorf("after QA's NOGO the status is still success")
	}
	t.Logf("status after the NOGO: %s %q, %s after it was accepted", got[1].Status.State, got[1].Status.Description, time.Since(accepted))
}

// TestAttackSlowJenkinsHoldsAnOldSuccess is the attack on the real binary:
// the release passed; then Jenkins answers every request slowly, within
// its client's timeout (20s a request), and QA posts a NOGO. The build is
// read again at every evaluation (GATEKEEPER_RECONCILE=2s: a build is
// re-read after half of it), so gathering takes minutes. The status must
// stop saying success within GATEKEEPER_GATHER_TIMEOUT and a little.
func TestAttackSlowJenkinsHoldsAnOldSuccess(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{jenkinsAPI: true, zenhub: true, extra: []string{"GATEKEEPER_GATHER_TIMEOUT=2s", "GATEKEEPER_RECONCILE=2s"}})
	const n = 2
	readyExceptLeadGO(t, r, n)
	payload, c := comment(t, n, 751966799, leadUser, "/go", "2020-12-29T05:52:14Z")
	r.gh.addComment(c)
	r.github("issue_comment", payload)
	if p := r.settle(n); p.Latest.Decision.State != "success" {
		t.Fatalf("the release with every piece of evidence does not pass: %+v", p.Latest.Decision)
	}
	if st := r.last(headA); st == nil || st["state"] != "success" {
		t.Fatalf("status on the head %v, want success", st)
	}

	r.jk.slow.Store(int64(20 * time.Second))
	time.Sleep(time.Second) // the build is due to be read again
	payload, c = comment(t, n, 751966800, qaUser, "/nogo payments flaky", "2020-12-29T06:10:00Z")
	r.gh.addComment(c)
	accepted := time.Now()
	r.github("issue_comment", payload)
	deadline := accepted.Add(15 * time.Second)
	for {
		st := r.last(headA)
		if st["state"] != "success" {
			t.Logf("status after the NOGO: %v %q, %s after it was accepted", st["state"], st["description"], time.Since(accepted).Round(time.Millisecond))
			if st["state"] != "failure" {
				t.Errorf("status %v, want failure (QA's NOGO)", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after QA's NOGO was accepted the status still says success (Jenkins answers slowly)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.jk.slow.Store(0)
}
