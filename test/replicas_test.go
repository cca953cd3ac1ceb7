package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// replicaPost is one status post that reached GitHub, with the replica
// that sent it and when.
type replicaPost struct {
	replica string
	at      time.Time
	path    string
	state   string
}

// postLog is the order in which status posts reached GitHub, over every
// replica.
type postLog struct {
	mu    sync.Mutex
	posts []replicaPost
}

func (l *postLog) all() []replicaPost {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]replicaPost(nil), l.posts...)
}

// replicaProxy stands between one gatekeeper process and the shared fake
// GitHub: it logs the status posts that reached GitHub (in one order over
// every replica), and holds the replica's reads while held, so that a
// test can catch it mid-evaluation.
type replicaProxy struct {
	*httptest.Server
	name string

	mu      sync.Mutex
	held    chan struct{} // non-nil: reads wait until it is closed
	waiting int           // reads waiting now
}

var statusPath = regexp.MustCompile(`^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$`)

func newReplicaProxy(t *testing.T, name string, gh *fakeGitHub, log *postLog) *replicaProxy {
	t.Helper()
	target, err := url.Parse(gh.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &replicaProxy{name: name}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			p.mu.Lock()
			held := p.held
			if held != nil {
				p.waiting++
			}
			p.mu.Unlock()
			if held != nil {
				select {
				case <-held:
				case <-r.Context().Done():
				}
				p.mu.Lock()
				p.waiting--
				p.mu.Unlock()
				if r.Context().Err() != nil {
					return
				}
			}
		}
		if r.Method == http.MethodPost && statusPath.MatchString(r.URL.Path) {
			body, _ := io.ReadAll(r.Body)
			var st struct {
				State string `json:"state"`
			}
			json.Unmarshal(body, &st)
			// Logged when GitHub has it: this is the order GitHub sees.
			log.mu.Lock()
			log.posts = append(log.posts, replicaPost{replica: name, at: time.Now(), path: r.URL.Path, state: st.State})
			log.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			r.ContentLength = int64(len(body))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	t.Cleanup(p.release)
	return p
}

func (p *replicaProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = make(chan struct{})
}

func (p *replicaProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

func (p *replicaProxy) holding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

const replicaLeaseTTL = 2 * time.Second

// startReplica runs one gatekeeper on the shared Redis, talking to GitHub
// through its proxy.
func startReplica(t *testing.T, rds *redistest.Server, px *replicaProxy) *server {
	t.Helper()
	return startServer(t, serverOptions{extra: []string{
		"GATEKEEPER_STORE=" + rds.URL(4),
		"GITHUB_API_URL=" + px.URL + "/", "GITHUB_TOKEN=e2e-token",
		"GATEKEEPER_LEASE_TTL=" + replicaLeaseTTL.String(),
	}})
}

// pullPayload is the recorded opened pull request as number n at head sha,
// with action.
func pullPayload(t *testing.T, action string, n int, sha, updated string) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &p); err != nil {
		t.Fatal(err)
	}
	p["action"], p["number"] = action, n
	pr := p["pull_request"].(map[string]any)
	pr["number"] = n
	pr["head"].(map[string]any)["sha"] = sha
	pr["updated_at"] = updated
	b, _ := json.Marshal(p)
	return b
}

// waitHeld waits until the replica behind px is caught reading GitHub.
func waitHeld(t *testing.T, px *replicaProxy, s *server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for px.holding() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("replica %s never read GitHub:\n%s", px.name, s.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicaPausedMidEvaluation: two gatekeepers on one redis-server.
// Replica a is frozen (SIGSTOP) while it evaluates a pull request; a push
// to it reaches replica b, which takes the pull request over once a's lease
// expired and posts its status. Then a is thawed (SIGCONT) and finishes
// what it was doing with the old evidence: it must post nothing.
func TestReplicaPausedMidEvaluation(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	gh := newFakeGitHub(t)
	log := &postLog{}
	pxA, pxB := newReplicaProxy(t, "a", gh, log), newReplicaProxy(t, "b", gh, log)
	a := startReplica(t, rds, pxA)
	const n = 301
	oldSHA, newSHA := fmt.Sprintf("%040x", 0xa11), fmt.Sprintf("%040x", 0xb22)

	pxA.hold()
	if code, resp := a.deliver("pull_request", "paused-1", pullPayload(t, "opened", n, oldSHA, "2030-01-01T00:00:00Z")); code != http.StatusAccepted {
		t.Fatalf("opened: %d %s", code, resp)
	}
	waitHeld(t, pxA, a) // a holds the lease and is gathering evidence
	b := startReplica(t, rds, pxB)
	a.cmd.Process.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	t.Cleanup(func() { a.cmd.Process.Signal(syscall.SIGCONT) })

	if code, resp := b.deliver("pull_request", "paused-2", pullPayload(t, "synchronize", n, newSHA, "2030-01-01T00:05:00Z")); code != http.StatusAccepted {
		t.Fatalf("synchronize: %d %s", code, resp)
	}
	eventually(t, "replica b posts the new head's status", func() bool {
		for _, p := range log.all() {
			if p.replica == "b" && strings.HasSuffix(p.path, newSHA) {
				return true
			}
		}
		return false
	})
	took := time.Since(frozen)
	t.Logf("replica b took over %s after a froze (lease ttl %s)", took.Round(time.Millisecond), replicaLeaseTTL)
	if took > replicaLeaseTTL+5*time.Second {
		t.Errorf("b took over %s after a froze; want within the lease ttl (%s) and 5s", took, replicaLeaseTTL)
	}

	// a wakes up with its reads answered, and the old evidence in hand.
	a.cmd.Process.Signal(syscall.SIGCONT)
	pxA.release()
	time.Sleep(2 * replicaLeaseTTL) // room for a late post to land
	if !strings.Contains(a.Logs(), "lease lost") {
		t.Error("replica a did not log that it lost the lease")
	}
	// Once thawed, a may take the pull request again under a new lease
	// (a slow source's answer queues it again) and post the newest
	// evidence's decision; what it must never post is the old evidence's.
	var last replicaPost
	for _, p := range log.all() {
		if p.replica == "a" && !strings.HasSuffix(p.path, newSHA) {
			t.Errorf("replica a posted %s on %s after it was frozen and its work taken over", p.state, p.path)
		}
		last = p
	}
	if !strings.HasSuffix(last.path, newSHA) {
		t.Errorf("the last status posted is on %s, want the new head %s", last.path, newSHA)
	}
	p := b.settled("Codertocat", "Hello-World", n)
	if p.Evidence.Published == nil {
		t.Fatalf("no published status recorded:\n%s", b.Logs())
	}
	if t.Failed() {
		t.Logf("replica a:\n%s", a.Logs())
	}
}

// TestReplicaKilledMidEvaluation: replica a dies (SIGKILL) holding a pull
// request's lease mid-evaluation; replica b, which never heard of the
// pull request, finds it in the shared queue and posts its status within
// seconds.
func TestReplicaKilledMidEvaluation(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	gh := newFakeGitHub(t)
	log := &postLog{}
	pxA, pxB := newReplicaProxy(t, "a", gh, log), newReplicaProxy(t, "b", gh, log)
	a := startReplica(t, rds, pxA)
	const n = 302
	sha := fmt.Sprintf("%040x", 0xc33)
	pxA.hold()
	if code, resp := a.deliver("pull_request", "killed-1", pullPayload(t, "opened", n, sha, "2030-01-01T00:00:00Z")); code != http.StatusAccepted {
		t.Fatalf("opened: %d %s", code, resp)
	}
	waitHeld(t, pxA, a)
	b := startReplica(t, rds, pxB)
	a.stop(syscall.SIGKILL)
	killed := time.Now()
	eventually(t, "replica b posts the status a never did", func() bool {
		for _, p := range log.all() {
			if p.replica == "b" && strings.HasSuffix(p.path, sha) {
				return true
			}
		}
		return false
	})
	took := time.Since(killed)
	t.Logf("replica b took over %s after a died (lease ttl %s)", took.Round(time.Millisecond), replicaLeaseTTL)
	if took > replicaLeaseTTL+5*time.Second {
		t.Errorf("b took over %s after a died; want within the lease ttl (%s) and 5s", took, replicaLeaseTTL)
	}
	for _, p := range log.all() {
		if p.replica == "a" {
			t.Errorf("replica a posted %s although it died before", p.state)
		}
	}
	if p := b.settled("Codertocat", "Hello-World", n); p.Latest.Decision.State != "pending" {
		t.Errorf("state %q, want pending", p.Latest.Decision.State)
	}
}
