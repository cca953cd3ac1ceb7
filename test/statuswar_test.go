package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ownLogin is the creator the recorded 201 answer to POST …/statuses names:
// the login behind the gatekeeper's token in these tests.
const ownLogin = "octokit-fixture-user-a"

// echoRepo is a fake GitHub for Codertocat/Hello-World that keeps commit
// statuses the way GitHub does and, like GitHub with the repository's
// webhook, delivers a status event to the gatekeeper for every status set
// on a commit, its own included (sender: whoever set it). That echo is what
// turned two pull requests on one head into a war of posts.
type echoRepo struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	created  map[string]any          // recorded 201 body of POST …/statuses/{sha}
	pulls    map[int]map[string]any  // REST pull request objects by number
	statuses map[string][]repoStatus // by sha, oldest first
	hook     string                  // the gatekeeper's webhook URL; "" until it runs
	posts    []statusPost            // what the gatekeeper posted
	sent     sync.WaitGroup          // webhooks on their way
}

// repoStatus is one status as GitHub stores it.
type repoStatus struct {
	ID                                  int
	Context, State, Description, Target string
	Creator                             string
	At                                  time.Time
}

var (
	echoStatuses    = regexp.MustCompile(`^` + repoPath + `/statuses/([0-9a-f]{40})$`)
	echoCombined    = regexp.MustCompile(`^` + repoPath + `/commits/([0-9a-f]{40})/status$`)
	echoList        = regexp.MustCompile(`^` + repoPath + `/commits/([0-9a-f]{40})/statuses$`)
	echoChecks      = regexp.MustCompile(`^` + repoPath + `/commits/[0-9a-f]{40}/check-runs$`)
	echoPull        = regexp.MustCompile(`^` + repoPath + `/pulls/([0-9]+)$`)
	echoCommitPulls = regexp.MustCompile(`^` + repoPath + `/commits/([0-9a-f]{40})/pulls$`)
	echoEmpty       = regexp.MustCompile(`^` + repoPath + `/(pulls/[0-9]+/reviews|issues/[0-9]+/comments|pulls)$`)
)

func newEchoRepo(t *testing.T) *echoRepo {
	t.Helper()
	f := &echoRepo{t: t, pulls: map[int]map[string]any{}, statuses: map[string][]repoStatus{}}
	var exchanges []struct {
		Method   string          `json:"method"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(fixture(t, "github/rest/create-status.recorded-exchange.json"), &exchanges); err != nil {
		t.Fatal(err)
	}
	for _, x := range exchanges {
		if x.Method == "post" && x.Status == http.StatusCreated {
			if err := json.Unmarshal(x.Response, &f.created); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if f.created == nil {
		t.Fatal("no recorded 201 status creation")
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(func() { f.sent.Wait(); f.Close() })
	return f
}

func (f *echoRepo) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case post && echoStatuses.MatchString(p):
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sha := echoStatuses.FindStringSubmatch(p)[1]
		st := f.set(sha, body["context"], body["state"], body["description"], body["target_url"], ownLogin)
		f.mu.Lock()
		f.posts = append(f.posts, statusPost{Path: p, Body: map[string]any{"state": body["state"], "description": body["description"], "target_url": body["target_url"], "context": body["context"]}})
		// GitHub answers with the status it created, creator included.
		answer := map[string]any{}
		for k, v := range f.created {
			answer[k] = v
		}
		f.mu.Unlock()
		answer["id"], answer["state"], answer["description"], answer["context"] = st.ID, st.State, st.Description, st.Context
		answer["target_url"], answer["created_at"], answer["updated_at"] = st.Target, st.At.Format(time.RFC3339), st.At.Format(time.RFC3339)
		writeJSONStatus(w, http.StatusCreated, mustJSON(f.t, answer))
	case get && echoCombined.MatchString(p):
		// The newest status per context, without its creator.
		sha := echoCombined.FindStringSubmatch(p)[1]
		latest := map[string]repoStatus{}
		var order []string
		f.mu.Lock()
		for _, st := range f.statuses[sha] {
			if _, ok := latest[st.Context]; !ok {
				order = append(order, st.Context)
			}
			latest[st.Context] = st
		}
		f.mu.Unlock()
		list := []map[string]any{}
		for _, c := range order {
			st := latest[c]
			list = append(list, map[string]any{"id": st.ID, "state": st.State, "description": st.Description, "target_url": st.Target,
				"context": st.Context, "created_at": st.At.Format(time.RFC3339), "updated_at": st.At.Format(time.RFC3339)})
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, map[string]any{"state": "pending", "sha": sha, "total_count": len(list), "statuses": list}))
	case get && echoList.MatchString(p):
		// Every status, newest first, with its creator.
		sha := echoList.FindStringSubmatch(p)[1]
		list := []map[string]any{}
		f.mu.Lock()
		all := f.statuses[sha]
		for i := len(all) - 1; i >= 0; i-- {
			st := all[i]
			list = append(list, map[string]any{"id": st.ID, "state": st.State, "description": st.Description, "target_url": st.Target,
				"context": st.Context, "created_at": st.At.Format(time.RFC3339), "updated_at": st.At.Format(time.RFC3339),
				"creator": map[string]any{"login": st.Creator, "type": "User"}})
		}
		f.mu.Unlock()
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && p == repoPath+"/branches/master":
		writeJSONStatus(w, http.StatusOK, branchJSON("master", baseSHA))
	case get && echoChecks.MatchString(p):
		writeJSONStatus(w, http.StatusOK, []byte(`{"total_count":0,"check_runs":[]}`))
	case get && echoPull.MatchString(p):
		n, _ := strconv.Atoi(echoPull.FindStringSubmatch(p)[1])
		f.mu.Lock()
		pr, ok := f.pulls[n]
		f.mu.Unlock()
		if !ok {
			notFoundJSON(w)
			return
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, pr))
	case get && p == repoPath+"/pulls" && r.URL.Query().Get("state") == "open":
		// The open pull requests into ?base=, as GitHub lists them.
		base := r.URL.Query().Get("base")
		list := []map[string]any{}
		f.mu.Lock()
		for _, pr := range f.pulls {
			if pr["state"] == "open" && (base == "" || pr["base"].(map[string]any)["ref"] == base) {
				list = append(list, pr)
			}
		}
		f.mu.Unlock()
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && echoCommitPulls.MatchString(p):
		// The pull requests that contain the commit; the fake's commits
		// are their heads.
		sha := echoCommitPulls.FindStringSubmatch(p)[1]
		list := []map[string]any{}
		f.mu.Lock()
		for _, pr := range f.pulls {
			if pr["head"].(map[string]any)["sha"] == sha {
				list = append(list, pr)
			}
		}
		f.mu.Unlock()
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && echoEmpty.MatchString(p):
		writeJSONStatus(w, http.StatusOK, []byte(`[]`))
	case get && strings.HasPrefix(p, repoPath+"/compare/"):
		writeJSONStatus(w, http.StatusOK, []byte(`{"status":"identical","ahead_by":0,"behind_by":0,"total_commits":0,"commits":[],"files":[]}`))
	default:
		notFoundJSON(w)
	}
}

// set stores a status on sha and delivers the status event for it.
func (f *echoRepo) set(sha, context, state, desc, target, creator string) repoStatus {
	f.mu.Lock()
	n := 0
	for _, l := range f.statuses {
		n += len(l)
	}
	st := repoStatus{ID: 2000 + n, Context: context, State: state, Description: desc, Target: target, Creator: creator, At: time.Now().UTC()}
	f.statuses[sha] = append(f.statuses[sha], st)
	hook := f.hook
	f.mu.Unlock()
	if hook == "" {
		return st
	}
	// The recorded status event, describing this status.
	ev := fixtureMap(f.t, "github/status.json")
	ev["id"], ev["sha"], ev["context"], ev["state"], ev["description"] = st.ID, sha, context, state, desc
	ev["target_url"], ev["created_at"], ev["updated_at"] = target, st.At.Format(time.RFC3339), st.At.Format(time.RFC3339)
	ev["sender"].(map[string]any)["login"] = creator
	body := mustJSON(f.t, ev)
	f.sent.Add(1)
	go func() {
		defer f.sent.Done()
		req, err := http.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "status")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("status-%d", st.ID))
		req.Header.Set("X-Hub-Signature-256", sign(body))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	return st
}

// setPull makes GitHub describe pull request number n: the recorded one,
// renumbered, with the changes given (e.g. "draft": true).
func (f *echoRepo) setPull(n int, changes map[string]any) map[string]any {
	pr := fixtureMap(f.t, "github/pull_request.opened.json")["pull_request"].(map[string]any)
	pr["number"] = n
	for k, v := range changes {
		pr[k] = v
	}
	f.mu.Lock()
	f.pulls[n] = pr
	f.mu.Unlock()
	return pr
}

// Posts returns the statuses the gatekeeper posted.
func (f *echoRepo) Posts() []statusPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statusPost(nil), f.posts...)
}

// quietPosts waits until the gatekeeper has posted nothing for a second,
// and at most 8s: a status war never goes quiet.
func quietPosts(f *echoRepo) []statusPost {
	deadline := time.Now().Add(8 * time.Second)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		n := len(f.Posts())
		if n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f.Posts()
}

// startEchoServer runs the gatekeeper against f with a token, and points
// f's webhook at it.
func startEchoServer(t *testing.T, f *echoRepo) *server {
	t.Helper()
	s := startServer(t, serverOptions{extra: []string{"GITHUB_API_URL=" + f.URL + "/", "GITHUB_TOKEN=e2e-token"}})
	f.mu.Lock()
	f.hook = s.url("/webhooks/github")
	f.mu.Unlock()
	return s
}

// openedPayload is the recorded pull_request.opened delivery for pull
// request pr.
func openedPayload(t *testing.T, pr map[string]any) []byte {
	t.Helper()
	ev := fixtureMap(t, "github/pull_request.opened.json")
	ev["number"], ev["pull_request"] = pr["number"], pr
	return mustJSON(t, ev)
}

// TestTwoPullsOnOneHeadEndToEnd: the release pull request #2 and a second
// one, #5, from the same branch (a draft), share their head. GitHub echoes
// every status back. The review counted 219 posts in 2 s; here the posts
// are bounded, the status is the worst of the two naming both, and once
// settled a new delivery for either posts nothing.
func TestTwoPullsOnOneHeadEndToEnd(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startEchoServer(t, f)
	pr2 := f.setPull(2, nil)
	pr5 := f.setPull(5, map[string]any{"draft": true, "title": "Release again"})
	if code, body := s.deliver("pull_request", "open-2", openedPayload(t, pr2)); code != http.StatusAccepted {
		t.Fatalf("opened #2: %d %s", code, body)
	}
	if code, body := s.deliver("pull_request", "open-5", openedPayload(t, pr5)); code != http.StatusAccepted {
		t.Fatalf("opened #5: %d %s", code, body)
	}
	posts := quietPosts(f)
	if len(posts) == 0 || len(posts) > 4 {
		t.Fatalf("%d status posts for two pull requests on one head, want 1 to 4:\n%v", len(posts), posts)
	}
	last := posts[len(posts)-1].Body
	desc, _ := last["description"].(string)
	if last["state"] != "failure" || !strings.HasPrefix(desc, "#5: Failing: pull request is a draft") || !strings.Contains(desc, "; #2: Waiting for: ") {
		t.Errorf("status on the shared head: %s %q, want failure naming #5's draft first, then #2", last["state"], desc)
	}
	if n := len([]rune(desc)); n > 140 {
		t.Errorf("description of %d characters", n)
	}
	if want := s.url("/pulls/Codertocat/Hello-World/5"); last["target_url"] != want {
		t.Errorf("target_url %v, want the worst one's page %s", last["target_url"], want)
	}

	// Settled: the same outcome again posts nothing, for either.
	n := len(posts)
	s.deliver("pull_request", "open-2-again", openedPayload(t, pr2))
	s.deliver("pull_request", "open-5-again", openedPayload(t, pr5))
	s.settled("Codertocat", "Hello-World", 2)
	s.settled("Codertocat", "Hello-World", 5)
	if got := quietPosts(f); len(got) != n {
		t.Errorf("%d posts after re-evaluating a settled pair, want none: %v", len(got)-n, got[n:])
	}
}

// TestHandSetStatusCorrectedEndToEnd: someone with write access sets
// release-gate to success by hand. The gatekeeper knows it is not its own
// (by the sender GitHub names), corrects it with a failure that names them,
// and then says its own decision again; nothing more.
func TestHandSetStatusCorrectedEndToEnd(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startEchoServer(t, f)
	pr2 := f.setPull(2, nil)
	if code, body := s.deliver("pull_request", "open-2", openedPayload(t, pr2)); code != http.StatusAccepted {
		t.Fatalf("opened #2: %d %s", code, body)
	}
	posts := quietPosts(f)
	if len(posts) != 1 {
		t.Fatalf("%d posts for one pull request, want 1: %v", len(posts), posts)
	}
	decided := posts[0].Body
	f.set(headA, "release-gate", "success", "LGTM, shipping", "", "hurried-manager")
	posts = quietPosts(f)
	if len(posts) < 2 || len(posts) > 3 {
		t.Fatalf("%d posts after a hand-set success, want 2 or 3: %v", len(posts), posts)
	}
	if c := posts[1].Body; c["state"] != "failure" || !strings.Contains(c["description"].(string), "release-gate status from someone else (hurried-manager)") {
		t.Errorf("correction %s %q, want a failure naming hurried-manager", c["state"], c["description"])
	}
	if got := posts[len(posts)-1].Body; got["state"] != decided["state"] || got["description"] != decided["description"] {
		t.Errorf("after the correction the status is %s %q, want the decision %s %q again",
			got["state"], got["description"], decided["state"], decided["description"])
	}
}
