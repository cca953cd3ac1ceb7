package test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// zenhubToken is the ZenHub API token the gatekeeper is given.
const zenhubToken = "e2e-zenhub-token"

// fakeZenHub answers GET /p1/repositories/{repo_id}/issues/{n} of ZenHub's
// REST v1 API with the recorded issue (rest.v1.issue.get.json) for the
// issues it knows, 404 for the others, and 401 without the token.
type fakeZenHub struct {
	*httptest.Server
	mu     sync.Mutex
	issues map[string]bool // "repo_id/n"
	hits   map[string]int
}

func newFakeZenHub(t *testing.T) *fakeZenHub {
	t.Helper()
	recorded := fixture(t, "zenhub/rest.v1.issue.get.json")
	f := &fakeZenHub{issues: map[string]bool{}, hits: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Authentication-Token") != zenhubToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Invalid Token"}`))
			return
		}
		var repo int64
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/p1/repositories/%d/issues/%d", &repo, &n); err != nil || r.Method != http.MethodGet ||
			r.URL.Path != fmt.Sprintf("/p1/repositories/%d/issues/%d", repo, n) {
			http.NotFound(w, r)
			return
		}
		id := fmt.Sprintf("%d/%d", repo, n)
		f.mu.Lock()
		known := f.issues[id]
		f.hits[id]++
		f.mu.Unlock()
		if !known {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Issue not found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(recorded)
	}))
	t.Cleanup(f.Close)
	return f
}

// know makes issue n of the GitHub repository repoID known to ZenHub.
func (f *fakeZenHub) know(repoID int64, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues[fmt.Sprintf("%d/%d", repoID, n)] = true
}

// lookups returns how often issue n of repoID was asked for.
func (f *fakeZenHub) lookups(repoID int64, n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[fmt.Sprintf("%d/%d", repoID, n)]
}
