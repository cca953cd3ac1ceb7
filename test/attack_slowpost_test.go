package test

import (
	"context"
	"fmt"
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

// hangingStatuses is a fake GitHub that answers status posts at once,
// except for one repository's, which it keeps waiting until release is
// closed (or the request is given up): a GitHub hung on one repository.
type hangingStatuses struct {
	hungRepo string // "owner/name"
	release  chan struct{}

	mu        sync.Mutex
	posted    map[string]int // "owner/name@sha" → statuses answered 201
	hungNow   int            // posts to hungRepo waiting now
	hungMax   int            // the most that ever waited at once
	hungDone  int            // posts to hungRepo answered 201
	otherWait sync.Cond      // signalled on every change
}

func newHangingStatuses(hungRepo string) *hangingStatuses {
	h := &hangingStatuses{hungRepo: hungRepo, release: make(chan struct{}), posted: map[string]int{}}
	h.otherWait.L = &h.mu
	return h
}

func (h *hangingStatuses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// POST /repos/{owner}/{repo}/statuses/{sha}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 5 || parts[0] != "repos" || parts[3] != "statuses" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	repo, sha := parts[1]+"/"+parts[2], parts[4]
	if repo == h.hungRepo {
		h.mu.Lock()
		h.hungNow++
		h.hungMax = max(h.hungMax, h.hungNow)
		h.otherWait.Broadcast()
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.hungNow--
			h.otherWait.Broadcast()
			h.mu.Unlock()
		}()
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
		h.mu.Lock()
		h.hungDone++
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.posted[repo+"@"+sha]++
	h.otherWait.Broadcast()
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"id":1,"state":"pending","context":"release-gate","creator":{"login":"gatekeeper-bot"}}`)
}

// await waits until cond holds (h.mu held while it is asked) or ctx ends.
func (h *hangingStatuses) await(ctx context.Context, cond func() bool) bool {
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		h.otherWait.Broadcast()
		h.mu.Unlock()
	})
	defer stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for !cond() {
		if ctx.Err() != nil {
			return false
		}
		h.otherWait.Wait()
	}
	return true
}

// TestAttackGitHubHangsOnOneRepository: GitHub stops answering status
// posts for one repository (it accepts the connection and never answers).
// Four of its pull requests are being evaluated, as many as there are
// workers. Twelve pull requests of other repositories then get new
// evidence: every one of them must get its status while the hung
// repository's posts are still waiting (in the incident this replays,
// the hung posts held all four workers and every other pull request
// waited 127 s). The hung repository's posts are also bounded: they never
// take more than the per-repository share of posts in flight.
func TestAttackGitHubHangsOnOneRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gh := newHangingStatuses("acme/hung")
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	defer close(gh.release) // the hung posts are answered at the end, before the server closes

	client, err := githubapi.New(githubapi.Options{BaseURL: srv.URL + "/", Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	store := gatekeepertest.NewStore(nil)
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store:     store,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a build"}}, "rev1"),
		Publisher: githubapi.NewPublisher(client),
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Workers:   4,
		Debounce:  -1,
		Reconcile: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	seed := func(repo string, n int) gatekeeper.PullKey {
		owner, name, _ := strings.Cut(repo, "/")
		key := gatekeeper.PullKey{Owner: owner, Repo: name, Number: n}
		sha := fmt.Sprintf("%040x", len(repo)*1000+n)
		if err := store.Record(ctx, "seed-"+key.String(), []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
			ev.PR = &gatekeeper.PullRequest{Key: key, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: sha}
		}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	const hung, others = 4, 12
	for n := 1; n <= hung; n++ {
		seed("acme/hung", n)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	if !gh.await(waitCtx, func() bool { return gh.hungNow >= 1 }) {
		t.Fatal("no status post reached the hung repository")
	}
	var keys []gatekeeper.PullKey
	for i := range others {
		keys = append(keys, seed(fmt.Sprintf("acme/other%d", i%6), 100+i))
	}
	for _, k := range keys {
		if err := svc.Enqueue(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	ok := gh.await(waitCtx, func() bool {
		got = 0
		for k, n := range gh.posted {
			if !strings.HasPrefix(k, "acme/hung@") && n > 0 {
				got++
			}
		}
		return got == others
	})
	gh.mu.Lock()
	hungNow, hungMax, hungDone := gh.hungNow, gh.hungMax, gh.hungDone
	gh.mu.Unlock()
	if !ok {
		t.Fatalf("while GitHub hangs on acme/hung's status posts (%d waiting), %d of %d other pull requests got their status", hungNow, got, others)
	}
	if hungDone != 0 || hungNow == 0 {
		t.Errorf("the hung repository's posts: %d answered, %d waiting; want 0 answered and some waiting (the others must not have waited for them)", hungDone, hungNow)
	}
	if hungMax > gatekeeper.DefaultPostsPerRepo {
		t.Errorf("%d posts to the hung repository were in flight at once, want at most %d", hungMax, gatekeeper.DefaultPostsPerRepo)
	}
	t.Logf("%d other pull requests got their status while %d posts to the hung repository waited (at most %d at once)", got, hungNow, hungMax)
}
