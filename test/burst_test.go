package test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// A burst is the life of many release pull requests at once, as a mix of
// what happens to them (opened, reviews, votes, Jenkins builds, a push),
// with the decision each must end with computed from what was sent. The
// fake GitHub, Jenkins and ZenHub hold every pull request's final state
// before the first delivery (GitHub has a review or a comment before it
// sends its webhook), so that whatever order the gatekeeper reads them in,
// the decision it ends with is the one expected.

// burstKind is what happens to one pull request of a burst.
type burstKind int

const (
	kindOpened   burstKind = iota // opened, nothing else: pending
	kindReviewed                  // opened, one to three approvals: pending
	kindVetoed                    // opened, an approval, QA's NOGO with a reason: failure
	kindPushed                    // opened, an approval of the old head, a push: pending on the new head
	kindReleased                  // everything a release needs: success
	burstKinds
)

var burstKindNames = [...]string{"opened", "reviewed", "vetoed", "pushed", "released"}

// burstDelivery is one webhook of a burst: GitHub's (event set) or
// Jenkins' (event empty).
type burstDelivery struct {
	pull    int
	id      string // X-GitHub-Delivery; Jenkins sends none
	event   string
	payload []byte
}

// burstPull is one pull request of a burst and what it must end with.
type burstPull struct {
	n          int
	kind       burstKind
	head       string // the head its status is on at the end
	want       string // the state of that status
	deliveries []burstDelivery
}

// burstWorld is the fakes a burst's gatekeepers share, and the settings
// every gatekeeper of the burst runs with.
type burstWorld struct {
	gh       *fakeRepo
	jk       *fakeJenkins
	zh       *fakeZenHub
	policies string
	extra    []string
}

func newBurstWorld(t *testing.T) *burstWorld {
	t.Helper()
	w := &burstWorld{gh: newFakeRepo(t), jk: newFakeJenkins(t), zh: newFakeZenHub(t), policies: policyCopy(t)}
	teams := roleTeams(t, w.policies)
	for role, user := range map[string]string{"module_lead": leadUser, "sre": sreUser, "qa": qaUser, "management": mgmtUser} {
		w.gh.addMember(teams[role], user)
	}
	// The release branch's merged pull request links issue #1, which
	// ZenHub knows.
	w.gh.addMerged(mergedPull(t, 17, "18936fb4b760b985e35fae9aa953a349703a4c53", 1))
	w.zh.know(repoID, 1)
	w.extra = []string{
		"GITHUB_API_URL=" + w.gh.URL + "/", "GITHUB_TOKEN=e2e-token",
		"GATEKEEPER_JENKINS_TOKEN=" + jenkinsToken, "JENKINS_URL=" + w.jk.URL + "/",
		"ZENHUB_API_URL=" + w.zh.URL + "/", "ZENHUB_API_TOKEN=" + zenhubToken,
		// GitHub's secondary limit allows about 80 writes a minute;
		// the burst spends all of it.
		"GATEKEEPER_GITHUB_WRITES_PER_MINUTE=80",
	}
	return w
}

// plan makes pulls pull requests numbered from first, of the kinds in
// turn, gives the fakes their final state, and returns them.
func (w *burstWorld) plan(t *testing.T, prefix string, first, pulls int) []*burstPull {
	t.Helper()
	var out []*burstPull
	approvedAt := []string{"2019-05-15T16:01:00Z", "2019-05-15T16:02:00Z", "2019-05-15T16:03:00Z", "2019-05-15T16:04:00Z"}
	approvers := []string{leadUser, sreUser, qaUser, mgmtUser}
	for i := range pulls {
		n := first + i
		p := &burstPull{n: n, kind: burstKind(i % int(burstKinds))}
		seq := 0
		github := func(event string, payload []byte) {
			seq++
			p.deliveries = append(p.deliveries, burstDelivery{pull: n, id: fmt.Sprintf("%s-%d-%d", prefix, n, seq), event: event, payload: payload})
		}
		jenkins := func(payload []byte) {
			p.deliveries = append(p.deliveries, burstDelivery{pull: n, payload: payload})
		}
		headA := fmt.Sprintf("%040x", 0xa000000+n)
		payload, pr := opened(t, n, headA, releaseBody)
		w.gh.setPull(pr)
		github("pull_request", payload)
		p.head, p.want = headA, "pending"
		approve := func(k int, head string) {
			payload, review := approval(t, pr, n*10+k, approvers[k], head, approvedAt[k])
			w.gh.addReview(n, review)
			github("pull_request_review", payload)
		}
		vote := func(k int, user, body, at string) {
			payload, c := comment(t, n, int64(n*10+k), user, body, at)
			w.gh.addComment(c)
			github("issue_comment", payload)
		}
		switch p.kind {
		case kindReviewed:
			for k := range 1 + i%3 {
				approve(k, headA)
			}
		case kindVetoed:
			approve(0, headA)
			vote(5, qaUser, "/nogo payments smoke test flaky", "2020-12-29T05:53:14Z")
			p.want = "failure"
		case kindPushed:
			approve(0, headA)
			headB := fmt.Sprintf("%040x", 0xb000000+n)
			payload, prB := synchronize(t, n, headA, headB, releaseBody, "2021-01-04T11:00:00Z")
			w.gh.setPull(prB)
			github("pull_request", payload)
			p.head = headB
		case kindReleased:
			b := jenkinsBuild{job: prJob(n), number: 1, head: headA, merge: fmt.Sprintf("%040x", 0xc000000+n), result: "SUCCESS"}
			w.jk.addBuild(b)
			jenkins(notification(t, b))
			jenkins(pipelineReport(t, b, chartOf(b)))
			for k := range approvers {
				approve(k, headA)
			}
			for k, user := range []string{leadUser, sreUser, qaUser} {
				vote(5+k, user, "/go", fmt.Sprintf("2020-12-29T05:5%d:14Z", k))
			}
			p.want = "success"
		}
		out = append(out, p)
	}
	return out
}

// shuffled interleaves the pull requests' deliveries in a random order
// that keeps each pull request's own order (GitHub sends a review after
// the pull request was opened).
func shuffled(rng *rand.Rand, pulls []*burstPull) []burstDelivery {
	next := make([]int, len(pulls))
	left := 0
	for _, p := range pulls {
		left += len(p.deliveries)
	}
	out := make([]burstDelivery, 0, left)
	for ; left > 0; left-- {
		// Pick a pull request with weight its deliveries left.
		k := rng.IntN(left)
		for i, p := range pulls {
			rest := len(p.deliveries) - next[i]
			if k < rest {
				out = append(out, p.deliveries[next[i]])
				next[i]++
				break
			}
			k -= rest
		}
	}
	return out
}

// post sends one delivery to s and returns the status code (0: no answer,
// the process is gone).
func (d burstDelivery) post(s *server) int {
	var req *http.Request
	if d.event == "" {
		req, _ = http.NewRequest(http.MethodPost, s.url("/webhooks/jenkins?token="+jenkinsToken), bytes.NewReader(d.payload))
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	} else {
		req, _ = http.NewRequest(http.MethodPost, s.url("/webhooks/github"), bytes.NewReader(d.payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", d.id)
		req.Header.Set("X-Hub-Signature-256", sign(d.payload))
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// burstSender delivers a burst over several connections at once to the
// replicas, any replica taking any delivery. A delivery that is not
// acknowledged (its replica is gone, or its store is down) is sent again,
// with the same delivery id, to another replica, after a pause, as
// GitHub's redelivery (or the sweeper's) would; a 202 is what GitHub would
// record as delivered.
type burstSender struct {
	replicas []*server
	rng      *rand.Rand

	mu      sync.Mutex
	down    map[*server]bool
	acked   map[string]int // GitHub delivery id → pull request, for every 202
	refused map[int]int    // answers other than 202 seen, by code
	sent    atomic.Int64   // deliveries acknowledged so far
}

func newBurstSender(seed uint64, replicas ...*server) *burstSender {
	return &burstSender{replicas: replicas, rng: rand.New(rand.NewPCG(seed, 1)),
		down: map[*server]bool{}, acked: map[string]int{}, refused: map[int]int{}}
}

// setDown takes a replica out of (or back into) the rotation.
func (b *burstSender) setDown(s *server, down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down[s] = down
}

func (b *burstSender) pick() *server {
	b.mu.Lock()
	defer b.mu.Unlock()
	var up []*server
	for _, s := range b.replicas {
		if !b.down[s] {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		return b.replicas[0]
	}
	return up[b.rng.IntN(len(up))]
}

// deliver sends d until a replica acknowledges it, for at most a minute.
func (b *burstSender) deliver(t *testing.T, d burstDelivery) {
	deadline := time.Now().Add(time.Minute)
	for {
		code := d.post(b.pick())
		if code == http.StatusAccepted {
			b.mu.Lock()
			if d.id != "" {
				b.acked[d.id] = d.pull
			}
			b.mu.Unlock()
			b.sent.Add(1)
			return
		}
		b.mu.Lock()
		b.refused[code]++
		b.mu.Unlock()
		if time.Now().After(deadline) {
			t.Errorf("delivery %s of #%d was never acknowledged (last answer %d)", d.id, d.pull, code)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run delivers the burst over conns connections, each taking the
// deliveries of its share of the pull requests in the burst's order, and
// returns when every delivery was acknowledged.
func (b *burstSender) run(t *testing.T, burst []burstDelivery, conns int) {
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			for _, d := range burst {
				if d.pull%conns == c {
					b.deliver(t, d)
				}
			}
		})
	}
	wg.Wait()
}

// settleAll waits until every pull request is off the queue (its latest
// evidence evaluated: a decision is recorded only when it changes) with its
// latest decision posted, and returns what s's API says of each.
//
// Settling a burst is paced by GitHub's write limit (80 posts a minute per
// replica), not by the gatekeeper's speed: on a slow machine it takes
// minutes. So the wait is on progress, not on the clock: it fails when
// neither a pull request settled nor GitHub received a post for quiet (a
// stall), or after limit in all (a pull request starved while others move).
func settleAll(t *testing.T, s *server, gh *fakeRepo, pulls []*burstPull, quiet, limit time.Duration) map[int]pull {
	t.Helper()
	start := time.Now()
	lastMove, posts := start, len(gh.Statuses())
	out := map[int]pull{}
	for _, p := range pulls {
		for {
			got, ok := s.getPull("Codertocat", "Hello-World", p.n)
			if ok && !got.Queued && got.Latest != nil && got.Evidence.Published != nil && got.Evidence.Published.State == got.Latest.Decision.State {
				out[p.n] = got
				lastMove = time.Now()
				break
			}
			if n := len(gh.Statuses()); n != posts {
				posts, lastMove = n, time.Now()
			}
			if stalled, over := time.Since(lastMove) > quiet, time.Since(start) > limit; stalled || over {
				var pub, dec any
				if got.Evidence.Published != nil {
					pub = *got.Evidence.Published
				}
				if got.Latest != nil {
					dec = *got.Latest
				}
				why := fmt.Sprintf("nothing settled and nothing was posted for %s", quiet)
				if !stalled {
					why = fmt.Sprintf("not settled after %s while others were", limit)
				}
				t.Errorf("#%d (%s): %s (%d of %d settled, %d statuses posted): queued %v, evidence version %d, latest decision %+v, published %+v",
					p.n, burstKindNames[p.kind], why, len(out), len(pulls), posts, got.Queued, got.Evidence.Version, dec, pub)
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("every pull request settled %s after the burst (%d statuses posted)", time.Since(start).Round(time.Second), posts)
	return out
}

// checkBurst asserts what a burst must end with, whatever faults it met:
// every acknowledged delivery is in its pull request's evidence (so the
// decision that stands was made on it); every pull request's latest
// decision and the last status GitHub has on its head are the expected
// ones; and no status was posted twice in a row on one commit.
func checkBurst(t *testing.T, w *burstWorld, s *server, b *burstSender, pulls []*burstPull) {
	t.Helper()
	got := settleAll(t, s, w.gh, pulls, time.Minute, 12*time.Minute)
	if got == nil {
		return
	}
	b.mu.Lock()
	acked := map[int]map[string]bool{}
	for id, n := range b.acked {
		if acked[n] == nil {
			acked[n] = map[string]bool{}
		}
		acked[n][id] = true
	}
	b.mu.Unlock()
	for _, p := range pulls {
		g := got[p.n]
		for _, e := range g.Evidence.Log {
			delete(acked[p.n], e.Delivery)
		}
		for id := range acked[p.n] {
			t.Errorf("#%d: acknowledged delivery %s is not in the evidence its decision was made on", p.n, id)
		}
		if g.Latest.Decision.State != p.want {
			t.Errorf("#%d (%s): decision %s %q, want %s", p.n, burstKindNames[p.kind], g.Latest.Decision.State, g.Latest.Description, p.want)
		}
	}

	// GitHub's side: the posts, in the order GitHub received them, by
	// commit (each pull request has heads of its own).
	byCommit := map[string][]map[string]any{}
	for _, post := range w.gh.Statuses() {
		sha := post.Path[strings.LastIndex(post.Path, "/")+1:]
		byCommit[sha] = append(byCommit[sha], post.Body)
	}
	posts, dups := 0, 0
	for sha, list := range byCommit {
		posts += len(list)
		for i := 1; i < len(list); i++ {
			a, c := list[i-1], list[i]
			if a["state"] == c["state"] && a["description"] == c["description"] && a["target_url"] == c["target_url"] {
				dups++
				t.Errorf("commit %s: status %s %q posted twice in a row", sha, c["state"], c["description"])
			}
		}
	}
	for _, p := range pulls {
		list := byCommit[p.head]
		if len(list) == 0 {
			t.Errorf("#%d (%s): no status on its head %s", p.n, burstKindNames[p.kind], p.head[:12])
			continue
		}
		last := list[len(list)-1]
		if last["state"] != p.want || !strings.HasSuffix(fmt.Sprint(last["target_url"]), fmt.Sprintf("/pulls/Codertocat/Hello-World/%d", p.n)) {
			t.Errorf("#%d (%s): last status on its head is %s %q (%v), want %s", p.n, burstKindNames[p.kind], last["state"], last["description"], last["target_url"], p.want)
		}
	}
	kinds := map[string]int{}
	for _, p := range pulls {
		kinds[burstKindNames[p.kind]+"→"+p.want]++
	}
	var mix []string
	for k, v := range kinds {
		mix = append(mix, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(mix)
	b.mu.Lock()
	t.Logf("%d pull requests (%s); %d deliveries acknowledged (answers refused meanwhile: %v); %d statuses posted on %d commits, %d posted twice in a row",
		len(pulls), strings.Join(mix, ", "), b.sent.Load(), b.refused, posts, len(byCommit), dups)
	b.mu.Unlock()
}

// burstReplicas starts two gatekeepers on database db of rds, sharing the
// world's fakes.
func burstReplicas(t *testing.T, w *burstWorld, storeURL string) (*server, *server) {
	t.Helper()
	start := func() *server {
		return startServer(t, serverOptions{policies: w.policies, extra: append(append([]string(nil), w.extra...),
			"GATEKEEPER_STORE="+storeURL,
			"GATEKEEPER_LEASE_TTL="+replicaLeaseTTL.String(),
			// Replicas behind one load balancer link statuses to one
			// address; each its own would make them post over each
			// other's statuses.
			"GATEKEEPER_PUBLIC_URL=http://gatekeeper.test",
		)})
	}
	return start(), start()
}

// burstPulls is how many pull requests a proof burst runs over.
const burstPulls = 200

// burstSeed makes a burst's order; a failure logs it, and
// GATEKEEPER_BURST_SEED replays it.
func burstSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := strings.TrimSpace(os.Getenv("GATEKEEPER_BURST_SEED")); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("burst order seed %d (GATEKEEPER_BURST_SEED replays it)", seed)
	return seed
}

// TestBurstReplicaKilled: two gatekeepers on one redis-server (appendonly
// yes, appendfsync always) take a shuffled burst over 200 release pull
// requests; a third of the way in, one of them gets SIGKILL, and it is
// started again a few seconds later, as its supervisor would. Every
// acknowledged delivery is evaluated, every pull request ends with the
// status its evidence calls for, and no status is posted twice in a row.
func TestBurstReplicaKilled(t *testing.T) {
	t.Parallel()
	burstWithFault(t, "kill", 1000, 5, func(_ *redistest.Server, a, _ *server, sender *burstSender, total int) {
		sender.setDown(a, true)
		a.stop(syscall.SIGKILL)
		t.Logf("replica a killed after %d of %d deliveries", sender.sent.Load(), total)
		time.Sleep(3 * time.Second)
		a.start()
		sender.setDown(a, false)
		t.Logf("replica a started again after %d deliveries", sender.sent.Load())
	})
}

// TestBurstRedisRestarted: the same burst, with redis-server killed a
// third of the way in and started again a second later on its data
// folder: what it acknowledged is in its append-only file.
func TestBurstRedisRestarted(t *testing.T) {
	t.Parallel()
	burstWithFault(t, "redis", 2000, 6, func(rds *redistest.Server, _, _ *server, sender *burstSender, total int) {
		rds.Kill()
		t.Logf("redis-server killed after %d of %d deliveries", sender.sent.Load(), total)
		time.Sleep(time.Second)
		rds.Restart(t)
		t.Logf("redis-server started again after %d deliveries", sender.sent.Load())
	})
}

// burstWithFault sends the shuffled burst over burstPulls pull requests
// (numbered from base) to two replicas on database db of one redis-server,
// runs fault a third of the way in, and checks the outcome through
// replica b (never the one a fault stops).
func burstWithFault(t *testing.T, name string, base, db int, fault func(rds *redistest.Server, a, b *server, sender *burstSender, total int)) {
	if testing.Short() {
		t.Skip("a burst over 200 pull requests takes a minute or two")
	}
	rds := redistest.Start(t)
	w := newBurstWorld(t)
	pulls := w.plan(t, name, base, burstPulls)
	seed := burstSeed(t)
	burst := shuffled(rand.New(rand.NewPCG(seed, 2)), pulls)
	a, b := burstReplicas(t, w, rds.URL(db))
	sender := newBurstSender(seed, a, b)

	done := make(chan struct{})
	var faults sync.WaitGroup
	faults.Go(func() {
		for sender.sent.Load() < int64(len(burst)/3) {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		fault(rds, a, b, sender, len(burst))
	})
	sender.run(t, burst, 8)
	close(done)
	faults.Wait()
	checkBurst(t, w, b, sender, pulls)
	dumpLogs(t, map[string]*server{"a": a, "b": b})
}

// dumpLogs writes the replicas' logs into GATEKEEPER_BURST_LOGS, when set,
// after a failure.
func dumpLogs(t *testing.T, replicas map[string]*server) {
	dir := os.Getenv("GATEKEEPER_BURST_LOGS")
	if dir == "" || !t.Failed() {
		return
	}
	for name, s := range replicas {
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-")+"-"+name+".log")
		if err := os.WriteFile(path, []byte(s.Logs()), 0o644); err == nil {
			t.Logf("replica %s's log: %s", name, path)
		}
	}
}
