package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
)

// statusGitHub is a fake GitHub that keeps the statuses posted and lists
// them back, newest first, as GitHub does; afterPost runs after each post
// is kept and before it is answered.
type statusGitHub struct {
	mu        sync.Mutex
	posts     []map[string]any
	lists     int
	afterPost func()
}

func (g *statusGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && len(parts) == 5 && parts[3] == "statuses":
		var st map[string]any
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st["creator"] = map[string]any{"login": "gatekeeper-bot"}
		g.mu.Lock()
		g.posts = append(g.posts, st)
		after := g.afterPost
		g.mu.Unlock()
		if after != nil {
			after()
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(st)
	case r.Method == http.MethodGet && len(parts) == 6 && parts[3] == "commits" && parts[5] == "statuses":
		g.mu.Lock()
		g.lists++
		list := make([]map[string]any, 0, len(g.posts))
		for i := len(g.posts) - 1; i >= 0; i-- {
			list = append(list, g.posts[i])
		}
		g.mu.Unlock()
		json.NewEncoder(w).Encode(list)
	default:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

// flakyWrites is a store whose next failNext evidence writes fail, as a
// disk that filled up or a Redis that went away would.
type flakyWrites struct {
	*gatekeepertest.Store
	failNext atomic.Int32
	failed   atomic.Int32
}

// recordAttempts is how many times in a row the gatekeeper asks the store
// to record a status it posted before leaving it to the outbox
// (gatekeeper's recordPosted).
const recordAttempts = 8

var errDiskFull = errors.New("no space left on device")

func (s *flakyWrites) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	for n := s.failNext.Load(); n > 0; n = s.failNext.Load() {
		if s.failNext.CompareAndSwap(n, n-1) {
			s.failed.Add(1)
			return nil, fmt.Errorf("updating evidence of %s: %w", key, errDiskFull)
		}
	}
	return s.Store.Update(ctx, key, fn)
}

// postObserver counts status posts and the failed ones.
type postObserver struct{ posts, failed atomic.Int32 }

func (o *postObserver) Evaluated(time.Duration, gatekeeper.State) {}
func (o *postObserver) QueueDepth(int)                            {}
func (o *postObserver) Published(_ gatekeeper.State, err error) {
	o.posts.Add(1)
	if err != nil {
		o.failed.Add(1)
	}
}

// TestAttackStatusPostedButNotRecorded: GitHub takes the status post, and
// then the store fails the write that records it. The pull request stays
// queued and is evaluated again; the status must not be posted twice
// (GitHub keeps 1,000 statuses per commit and context, and every post is
// a content-creating request against the secondary limit). And the
// failure is the store's: the logs, the post metrics and the status
// never blame GitHub for it.
func TestAttackStatusPostedButNotRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flakyWrites{Store: gatekeepertest.NewStore(nil)}
	gh := &statusGitHub{}
	// Only after the first post, and for longer than the gatekeeper's own
	// retries of that write: the outbox must carry it.
	gh.afterPost = func() { store.failNext.CompareAndSwap(0, recordAttempts) }
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	client, err := githubapi.New(githubapi.Options{BaseURL: srv.URL + "/", Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &gatekeepertest.LogBuffer{}
	obs := &postObserver{}
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store:     store,
		Evaluator: gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a build"}}, "rev1"),
		Publisher: githubapi.NewPublisher(client),
		Gated:     gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Observer:  obs,
		Workers:   2, Debounce: -1, Reconcile: time.Hour,
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 7}
	sha := fmt.Sprintf("%040x", 7)
	if err := store.Record(ctx, "opened", []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
		ev.PR = &gatekeeper.PullRequest{Key: key, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: sha}
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Wait until the store knows the status and the queue is empty.
	waitCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	for {
		ev, err := store.Evidence(ctx, key)
		_, queued, qerr := store.Generation(ctx, key)
		if err == nil && qerr == nil && ev.Published != nil && ev.Posting == nil && !queued {
			break
		}
		select {
		case <-waitCtx.Done():
			t.Fatalf("the status was never recorded: evidence %+v, queued %v", ev, queued)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
	gh.mu.Lock()
	posts, lists := len(gh.posts), gh.lists
	gh.mu.Unlock()
	if store.failed.Load() != recordAttempts {
		t.Fatalf("the store failed %d writes, want %d (the ones after the post)", store.failed.Load(), recordAttempts)
	}
	if posts != 1 {
		t.Errorf("GitHub got %d status posts, want 1: a status whose recording failed was posted again", posts)
	}
	if lists == 0 {
		t.Errorf("GitHub was never asked whether the unrecorded post landed")
	}
	if obs.failed.Load() != 0 {
		t.Errorf("%d of %d status posts counted as failed: the store's failure is counted as GitHub's", obs.failed.Load(), obs.posts.Load())
	}
	out := logs.String()
	var blamed []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, errDiskFull.Error()) {
			continue
		}
		if !strings.Contains(line, "store") || strings.Contains(strings.ToLower(line), "publishing status") || strings.Contains(strings.ToLower(line), "github") {
			blamed = append(blamed, line)
		}
	}
	if len(blamed) > 0 || !strings.Contains(out, errDiskFull.Error()) {
		t.Errorf("the store's failure is not named as the store's in the logs:\n%s", strings.Join(blamed, "\n"))
	}
}
