package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// The figures `make bench` reports on GitHub's rate limit and the
// process's memory at scale, measured from outside on the real binary, on
// bbolt and on Redis in one run. They print as "FIGURE" lines; the
// targets are issue 8's. TestScaleFigures runs only when GATEKEEPER_SCALE
// is set (test/run-bench.sh sets it): it takes minutes.

// scalePulls is how many open release pull requests the reconciliation
// figures are measured over.
const scalePulls = 1000

func scaleEnabled(t *testing.T) {
	if os.Getenv("GATEKEEPER_SCALE") == "" {
		t.Skip("measures for minutes; `make bench` runs it (GATEKEEPER_SCALE=1)")
	}
}

// figure prints one figure, for run-bench.sh to collect.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE "+format, args...)
}

// metricSum adds up the values of every series of the metric name in the
// server's /metrics.
func metricSum(t *testing.T, s *server, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// procKiB reads a field (VmRSS, VmHWM) of /proc/pid/status in KiB.
func procKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// waitEvaluated waits, for at most limit, until the server has made n
// more evaluations than from and its queue is empty.
func waitEvaluated(t *testing.T, s *server, from float64, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if metricSum(t, s, "gatekeeper_evaluations_total")-from >= float64(n) && metricSum(t, s, "gatekeeper_queue_depth") == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d evaluations within %s, queue %v", metricSum(t, s, "gatekeeper_evaluations_total")-from, n, limit,
				metricSum(t, s, "gatekeeper_queue_depth"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openStore opens the store of a stopped gatekeeper.
func openStore(t *testing.T, setting string) interface {
	gatekeeper.Store
	Close() error
} {
	t.Helper()
	if path, ok := strings.CutPrefix(setting, "bolt://"); ok {
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, err := redisstore.Open(context.Background(), setting)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestScaleFigures measures, on bbolt and on Redis:
//
//   - one reconciliation pass over 1,000 open release pull requests:
//     after a restart (nothing cached), and again with nothing changed
//     (every read conditional): its rate-limited GitHub calls and its
//     seconds (targets: ≤ 100 calls, ≤ 60 s);
//   - what that makes an hour of an open pull request nothing happens to,
//     at the default reconcile (1m) and GitHub max age (5m) (target ≤ 10);
//   - the resident memory of the process tracking them (target ≤ 150 MiB).
//
// The 1,000 pull requests are opened in a dry run (no GitHub, so that the
// write pace of 80 a minute does not make seeding take a quarter of an
// hour), and their recorded statuses are then marked as posted: the
// gatekeeper that starts on the store has nothing to post, as after a
// restart, and every GitHub call it makes is a reconciliation's.
func TestScaleFigures(t *testing.T) {
	scaleEnabled(t)
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var setting string
			if kind == "bolt" {
				setting = "bolt://" + filepath.Join(t.TempDir(), "gatekeeper.db")
			} else {
				setting = redistest.Start(t).URL(7)
			}
			scaleReconcile(t, kind, setting)
		})
	}
}

func scaleReconcile(t *testing.T, kind, setting string) {
	policies := policyCopy(t)
	common := []string{"GATEKEEPER_STORE=" + setting, "GATEKEEPER_PUBLIC_URL=http://gatekeeper.test",
		"GATEKEEPER_LOG_LEVEL=warn", "GATEKEEPER_RECONCILE=1h"}
	headOf := func(n int) string { return fmt.Sprintf("%040x", 0xd000000+n) }

	// GitHub knows the pull requests.
	repo := newFakeRepo(t)
	teams := roleTeams(t, policies)
	for role, user := range map[string]string{"module_lead": leadUser, "sre": sreUser, "qa": qaUser, "management": mgmtUser} {
		repo.addMember(teams[role], user)
	}
	for n := 1; n <= scalePulls; n++ {
		_, pr := opened(t, n, headOf(n), releaseBody)
		repo.setPull(pr)
	}
	gh := newBudgetGitHub(t, true)
	gh.mu.Lock()
	gh.repo, gh.remaining = repo, 1<<30
	gh.mu.Unlock()
	const maxAge = 2 * time.Second
	onGitHub := append(append([]string(nil), common...),
		"GITHUB_API_URL="+gh.URL+"/", "GITHUB_TOKEN=e2e-token",
		"GATEKEEPER_GITHUB_MAX_AGE="+maxAge.String())
	deliverOpened := func(s *server, from int) {
		var wg sync.WaitGroup
		for c := range 16 {
			wg.Go(func() {
				for n := from + c; n <= scalePulls; n += 16 {
					payload, _ := opened(t, n, headOf(n), releaseBody)
					d := burstDelivery{pull: n, id: fmt.Sprintf("scale-%d", n), event: "pull_request", payload: payload}
					if code := d.post(s); code != http.StatusAccepted {
						t.Errorf("seeding #%d: %d", n, code)
					}
				}
			})
		}
		wg.Wait()
	}

	// Seed. #1 is opened on GitHub: its status is what the gatekeeper
	// posts on a pull request just opened. The others are opened in a
	// dry run, and their statuses recorded as #1's was.
	first := startServer(t, serverOptions{policies: policies, extra: onGitHub})
	payload, _ := opened(t, 1, headOf(1), releaseBody)
	if code := (burstDelivery{pull: 1, id: "scale-1", event: "pull_request", payload: payload}).post(first); code != http.StatusAccepted {
		t.Fatalf("#1: %d", code)
	}
	eventually(t, "#1's status", func() bool { return len(repo.Statuses()) == 1 })
	p1 := first.settled("Codertocat", "Hello-World", 1)
	first.stop(syscall.SIGTERM)
	if p1.Evidence.Published == nil {
		t.Fatal("#1's status is not recorded")
	}
	posted := *p1.Evidence.Published

	seed := startServer(t, serverOptions{policies: policies, extra: common})
	base := metricSum(t, seed, "gatekeeper_evaluations_total")
	deliverOpened(seed, 2)
	waitEvaluated(t, seed, base, scalePulls-1, 5*time.Minute)
	seed.stop(syscall.SIGTERM)

	st := openStore(t, setting)
	keys, err := st.Pulls(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := st.Update(context.Background(), k, func(ev *gatekeeper.Evidence) {
			if ev.Published != nil && ev.Published.DryRun {
				ev.Published.DryRun = false
				ev.Published.State = gatekeeper.State(posted.State)
				ev.Published.Description = posted.Description
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if len(keys) != scalePulls {
		t.Fatalf("%d pull requests in the store, want %d", len(keys), scalePulls)
	}

	s := startServer(t, serverOptions{policies: policies, extra: onGitHub})

	// A pass is what a reconcile queues: every open release pull request.
	// A policy edit starts one at once (GATEKEEPER_POLICY_RELOAD=100ms).
	edits := 0
	pass := func(name string) (budgetCounts, time.Duration) {
		before := gh.counts()
		from := metricSum(t, s, "gatekeeper_evaluations_total")
		edits++
		f, err := os.OpenFile(filepath.Join(policies, "data.yaml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "\n# reconciliation pass %d\n", edits)
		f.Close()
		start := time.Now()
		waitEvaluated(t, s, from, scalePulls, 10*time.Minute)
		took := time.Since(start)
		c := gh.counts().minus(before)
		t.Logf("%s pass: %s in %s", name, c, took.Round(time.Millisecond))
		return c, took
	}
	cold, coldTook := pass("after a restart")
	time.Sleep(maxAge + maxAge/2) // every fact read is now older than the max age
	second, secondTook := pass("second, nothing changed")
	time.Sleep(maxAge + maxAge/2)
	warm, warmTook := pass("third, nothing changed")

	figure(t, "%s: reconciliation pass over %d open pull requests after a restart (nothing cached): %d calls, %d rate-limited, %d writes, %.1f s",
		kind, scalePulls, cold.requests, cold.limited(), cold.writes, coldTook.Seconds())
	figure(t, "%s: reconciliation pass over %d open pull requests, the second after the restart, nothing changed: %d calls, %d rate-limited (%d answered 304), %d writes, %.1f s",
		kind, scalePulls, second.requests, second.limited(), second.notModified, second.writes, secondTook.Seconds())
	figure(t, "%s: reconciliation pass over %d open pull requests, nothing changed (steady state, the third): %d calls, %d rate-limited (%d answered 304), %d writes, %.1f s (targets: ≤ 100 rate-limited, ≤ 60 s)",
		kind, scalePulls, warm.requests, warm.limited(), warm.notModified, warm.writes, warmTook.Seconds())
	// At the defaults an open pull request is evaluated every minute and
	// read from GitHub again every five (GitHub max age): twelve re-reads
	// an hour, each what this pass cost it.
	figure(t, "%s: rate-limited GitHub calls an hour of an open pull request nothing happens to, at reconcile 1m and max age 5m: %.2f (12 re-reads × %d/%d) (target ≤ 10)",
		kind, 12*float64(warm.limited())/scalePulls, warm.limited(), scalePulls)
	rss, hwm := procKiB(t, s.cmd.Process.Pid, "VmRSS"), procKiB(t, s.cmd.Process.Pid, "VmHWM")
	figure(t, "%s: gatekeeper resident memory with %d open pull requests tracked: %d MiB now, %d MiB peak (target ≤ 150 MiB)",
		kind, scalePulls, rss>>10, hwm>>10)
	if warm.writes+second.writes+cold.writes != 0 {
		t.Errorf("a reconciliation with nothing changed posted: %d, %d, %d writes", cold.writes, second.writes, warm.writes)
	}
}

// TestMixFigures measures GitHub reads per event and writes per state
// change over a realistic mix (the burst's: opened, reviews, votes,
// Jenkins builds, pushes), delivered one at a time in a shuffled order,
// each pull request settled before the next delivery, on one gatekeeper
// at the default GitHub max age, on bbolt and on Redis.
func TestMixFigures(t *testing.T) {
	scaleEnabled(t)
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var setting string
			if kind == "bolt" {
				setting = "bolt://" + filepath.Join(t.TempDir(), "gatekeeper.db")
			} else {
				setting = redistest.Start(t).URL(8)
			}
			w := newBurstWorld(t)
			pulls := w.plan(t, "mix-"+kind, 3000, 25)
			gh := newBudgetGitHub(t, true)
			gh.mu.Lock()
			gh.repo, gh.remaining = w.gh, 1<<30
			gh.mu.Unlock()
			s := startServer(t, serverOptions{policies: w.policies, extra: append(append([]string(nil), w.extra...),
				"GITHUB_API_URL="+gh.URL+"/", "GATEKEEPER_STORE="+setting)})
			burst := shuffled(rand.New(rand.NewPCG(8, 8)), pulls)
			start := gh.counts()
			for _, d := range burst {
				if code := d.post(s); code != http.StatusAccepted {
					t.Fatalf("delivery %s of #%d: %d", d.id, d.pull, code)
				}
				s.settled("Codertocat", "Hello-World", d.pull)
			}
			c := gh.counts().minus(start)
			changes := 0
			for _, p := range pulls {
				v, ok := s.getPullHistory(p.n)
				if !ok {
					t.Fatalf("#%d unknown", p.n)
				}
				changes += v
			}
			posts := c.byEndpoint["POST statuses"]
			reads := c.requests - c.writes
			figure(t, "%s: GitHub reads per event over the mix (%d events on %d pull requests): %.2f, %.2f of them rate-limited (%d reads, %d answered 304: %s) (target ≤ 2)",
				kind, len(burst), len(pulls), float64(reads)/float64(len(burst)), float64(reads-c.notModified)/float64(len(burst)), reads, c.notModified, callsOf(c, true))
			figure(t, "%s: GitHub writes per state change over the mix: %.2f status posts, %.2f writes in all (%d decision changes, %d posts, %d writes: %s)",
				kind, float64(posts)/float64(changes), float64(c.writes)/float64(changes), changes, posts, c.writes, callsOf(c, false))
		})
	}
}

// callsOf lists the calls of c by endpoint, the reads (GET) or the
// writes, reactions to every comment counted as one endpoint.
func callsOf(c budgetCounts, reads bool) string {
	by := map[string]int{}
	for k, v := range c.byEndpoint {
		if strings.HasPrefix(k, "GET ") != reads {
			continue
		}
		method, path, _ := strings.Cut(k, " ")
		switch {
		case reactionRoute.MatchString(path):
			k = method + " reactions"
		case commentRoute.MatchString(path):
			k = method + " comment"
		case reviewRoute.MatchString(path):
			k = method + " review"
		}
		by[k] += v
	}
	var out []string
	for k, v := range by {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// getPullHistory is how many decision changes the gatekeeper recorded for
// pull request n (the API's history, which keeps a decision only when it
// changed).
func (s *server) getPullHistory(n int) (int, bool) {
	resp, err := http.Get(s.url(fmt.Sprintf("/api/v1/pulls/Codertocat/Hello-World/%d", n)))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var v struct {
		History []struct {
			HeadSHA string `json:"head_sha"`
		} `json:"history"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatal(err)
	}
	return len(v.History), true
}
