package gatekeeper_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
)

// windowEvaluator is a policy whose only rule is a release window, from
// opens to closes: success inside it, pending outside, as window.rego
// decides on input.now.
type windowEvaluator struct {
	opens, closes time.Time
}

func (w windowEvaluator) Evaluate(_ context.Context, input any) (gatekeeper.Decision, error) {
	now := time.Unix(0, input.(*gatekeeper.Input).NowNS)
	if !now.Before(w.opens) && now.Before(w.closes) {
		return gatekeeper.Decision{State: gatekeeper.Success}, nil
	}
	return gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"release window"}}, nil
}

func (windowEvaluator) Revision() string { return "window" }
func (windowEvaluator) Ready() error     { return nil }

// hangingGitHub is a GitHub whose listing of open pull requests never
// answers (until the test ends) but for the repositories ("owner/repo")
// of lists, whose listing it answers with the numbers given: the real
// client waits on it as on a GitHub that hangs. listing is closed at its
// first listing request.
func hangingGitHub(t *testing.T, lists map[string][]int) (gatekeeper.Discoverer, <-chan struct{}) {
	t.Helper()
	listing := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/repos/"), "/pulls")
		if !ok {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		once.Do(func() { close(listing) })
		if numbers, ok := lists[repo]; ok {
			var pulls []map[string]int
			for _, n := range numbers {
				pulls = append(pulls, map[string]int{"number": n})
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(pulls)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "gave up", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	gh, err := githubapi.New(githubapi.Options{BaseURL: srv.URL + "/", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return gh, listing
}

// waitState waits for a published status in state want, failing after
// 10s (a bound on a hung test, not a performance assertion).
func (h *harness) waitState(t *testing.T, want gatekeeper.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, p := range h.pub.Published() {
			if p.Status.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses %+v, none %s", h.pub.Published(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// F9: a GitHub listing that hangs must not hold back the evaluations the
// reconcile timer makes: a success posted inside the release window turns
// pending once the window has closed, though discovery is still waiting.
func TestSlowDiscoveryDoesNotStopReconcile(t *testing.T) {
	t.Parallel()
	closes := t0.Add(30 * time.Minute)
	clock := gatekeepertest.NewClock(t0)
	gh, listing := hangingGitHub(t, nil)
	h := startWith(t, gatekeeper.Options{Evaluator: windowEvaluator{opens: t0, closes: closes}, Clock: clock,
		Discoverer: gh, Reconcile: 50 * time.Millisecond})
	h.accept(t, opened(head, t0))
	h.waitState(t, gatekeeper.Success)
	select {
	case <-listing: // discovery is stuck on GitHub
	case <-time.After(10 * time.Second):
		t.Fatal("discovery never listed the open pull requests")
	}
	h.settle(t) // what was queued before the listing was evaluated in the window
	clock.Set(closes.Add(time.Minute))
	h.waitState(t, gatekeeper.Pending)
}

// A repository whose listing GitHub never answers is asked last from
// then on: the others' lost pull requests are still found, though each
// round ends at its deadline.
func TestHangingRepositoryDoesNotHideOthers(t *testing.T) {
	t.Parallel()
	gh, _ := hangingGitHub(t, map[string][]int{"acme/shop": {8}})
	h := startWith(t, gatekeeper.Options{Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending}, "r1"),
		Discoverer: gh, Reconcile: 50 * time.Millisecond, Sources: []gatekeeper.Source{&source{name: "github"}}})
	// acme/aaa (listed first, by name, until asked) hangs.
	h.accept(t, gatekeeper.Event{Name: "pull_request.opened", Key: gatekeeper.PullKey{Owner: "acme", Repo: "aaa", Number: 1}, SHA: head,
		Repo: &gatekeeper.Repo{Owner: "acme", Name: "aaa"},
		PullRequest: &gatekeeper.PullRequest{Key: gatekeeper.PullKey{Owner: "acme", Repo: "aaa", Number: 1}, State: "open",
			HeadRef: "staging", BaseRef: "master", HeadSHA: head, UpdatedAt: t0}})
	h.accept(t, gatekeeper.Event{Name: "status", SHA: head, Repo: acmeShop}) // seen, nothing of it known
	lost := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 8}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.store.Evidence(context.Background(), lost); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never gated: acme/aaa's hanging listing hid it", lost)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
