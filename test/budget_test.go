package test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// budgetGitHub fronts a fakeRepo the way GitHub's REST API spends its rate
// limit: every 200 to a GET carries an ETag (a hash of the body), a GET
// whose If-None-Match matches is answered 304 with no body and costs
// nothing, and every other answer costs one call of the hour's 5,000. It
// counts requests by endpoint, the conditional ones and the 304s. With
// conditional false it ignores If-None-Match, as if the gatekeeper sent
// none: the figures before conditional requests.
type budgetGitHub struct {
	*httptest.Server
	conditional bool

	mu          sync.Mutex
	repo        *fakeRepo
	requests    int
	writes      int
	conditioned int // GETs with If-None-Match
	notModified int // answered 304
	byEndpoint  map[string]int
	remaining   int
	// limitPosts answers the next status posts 429 with Retry-After: 2.
	limitPosts int
	// postsAt are the times of the status posts received, and their codes.
	postsAt []time.Time
	codes   []int
	// callsAt are the times of all requests.
	callsAt []time.Time
}

func newBudgetGitHub(t *testing.T, conditional bool) *budgetGitHub {
	t.Helper()
	b := &budgetGitHub{conditional: conditional, byEndpoint: map[string]int{}, remaining: 5000}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

// budgetCounts is a snapshot of what budgetGitHub counted.
type budgetCounts struct {
	requests, writes, conditioned, notModified int
	byEndpoint                                 map[string]int
}

// limited is the calls that cost rate limit: all but the 304s.
func (c budgetCounts) limited() int { return c.requests - c.notModified }

func (c budgetCounts) minus(o budgetCounts) budgetCounts {
	d := budgetCounts{requests: c.requests - o.requests, writes: c.writes - o.writes,
		conditioned: c.conditioned - o.conditioned, notModified: c.notModified - o.notModified, byEndpoint: map[string]int{}}
	for k, v := range c.byEndpoint {
		if n := v - o.byEndpoint[k]; n != 0 {
			d.byEndpoint[k] = n
		}
	}
	return d
}

func (c budgetCounts) String() string {
	var keys []string
	for k, v := range c.byEndpoint {
		keys = append(keys, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(keys)
	return fmt.Sprintf("%d requests (%d rate-limited, %d writes, %d conditional, %d answered 304) [%s]",
		c.requests, c.limited(), c.writes, c.conditioned, c.notModified, strings.Join(keys, " "))
}

func (b *budgetGitHub) counts() budgetCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := budgetCounts{requests: b.requests, writes: b.writes, conditioned: b.conditioned, notModified: b.notModified, byEndpoint: map[string]int{}}
	for k, v := range b.byEndpoint {
		c.byEndpoint[k] = v
	}
	return c
}

// endpointOf names a request by its route, numbers and shas left out.
func endpointOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case membershipRoute.MatchString(p):
		return r.Method + " membership"
	case membersRoute.MatchString(p):
		return r.Method + " team_members"
	case statusesRoute.MatchString(p):
		return r.Method + " statuses"
	case pullRoute.MatchString(p):
		return r.Method + " pull"
	case reviewsRoute.MatchString(p):
		return r.Method + " reviews"
	case compareRoute.MatchString(p):
		return r.Method + " compare"
	case combinedRoute.MatchString(p):
		return r.Method + " combined_status"
	case checkRunsRoute.MatchString(p):
		return r.Method + " check_runs"
	case replyRoute.MatchString(p):
		return r.Method + " comments"
	case strings.HasPrefix(p, repoPath+"/branches/"):
		return r.Method + " branch"
	case p == repoPath+"/pulls":
		return r.Method + " pulls"
	case strings.Contains(p, "/commits/") && strings.HasSuffix(p, "/statuses"):
		return r.Method + " list_statuses"
	}
	return r.Method + " " + p
}

func (b *budgetGitHub) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	repo := b.repo
	now := time.Now()
	b.callsAt = append(b.callsAt, now)
	if r.Method == http.MethodPost && statusesRoute.MatchString(r.URL.Path) {
		b.postsAt = append(b.postsAt, now)
		if b.limitPosts > 0 {
			b.limitPosts--
			b.codes = append(b.codes, http.StatusTooManyRequests)
			b.requests++
			b.byEndpoint[endpointOf(r)]++
			b.mu.Unlock()
			w.Header().Set("Retry-After", "2")
			writeJSONStatus(w, http.StatusTooManyRequests, []byte(`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`))
			return
		}
		b.codes = append(b.codes, http.StatusCreated)
	}
	b.mu.Unlock()
	rec := httptest.NewRecorder()
	if repo != nil {
		repo.serveHTTP(rec, r)
	} else {
		notFoundJSON(rec)
	}
	body := rec.Body.Bytes()
	etag := ""
	if r.Method == http.MethodGet && rec.Code == http.StatusOK {
		etag = fmt.Sprintf(`W/"%x"`, sha256.Sum256(body))
	}

	b.mu.Lock()
	b.requests++
	b.byEndpoint[endpointOf(r)]++
	if r.Method != http.MethodGet {
		b.writes++
	}
	inm := r.Header.Get("If-None-Match")
	if inm != "" {
		b.conditioned++
	}
	free := b.conditional && etag != "" && inm == etag
	if free {
		b.notModified++
	} else {
		b.remaining--
	}
	remaining := b.remaining
	b.mu.Unlock()

	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(remaining))
	w.Header().Set("X-RateLimit-Resource", "core")
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if free {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// budgetRun is one gatekeeper on a budgetGitHub; it reports the calls of a
// new release pull request's first evaluation and of an idle stretch.
type budgetRun struct {
	newPR, idle budgetCounts
	idleFor     time.Duration
}

// maxAge is GATEKEEPER_GITHUB_MAX_AGE in the measurement: one second of
// test time stands for the default five minutes, so that an idle
// stretch of a few seconds re-reads as often as an idle hour would
// (twelve five-minute periods an hour).
const budgetMaxAge = time.Second

func runBudget(t *testing.T, conditional bool, idleFor time.Duration) budgetRun {
	gh := newBudgetGitHub(t, conditional)
	r := newRig(t, rigOptions{extra: []string{
		"GITHUB_API_URL=" + gh.URL + "/",
		"GATEKEEPER_RECONCILE=100ms",
		"GATEKEEPER_GITHUB_MAX_AGE=" + budgetMaxAge.String(),
	}})
	gh.mu.Lock()
	gh.repo = r.gh
	gh.mu.Unlock()

	const n = 2
	start := gh.counts()
	payload, pr := opened(t, n, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	p := r.settle(n)
	eventually(t, "the first status", func() bool { return len(r.gh.Statuses()) > 0 })
	afterNew := gh.counts()
	t.Logf("new pull request (%s): %s", p.Latest.Decision.State, afterNew.minus(start))

	// Nothing happens to the pull request; reconcile keeps re-reading it.
	time.Sleep(idleFor)
	afterIdle := gh.counts()
	return budgetRun{newPR: afterNew.minus(start), idle: afterIdle.minus(afterNew), idleFor: idleFor}
}

// TestGitHubBudget measures, from outside, what a new release pull request
// and an idle open one cost in GitHub's rate limit, with conditional
// requests answered (GitHub) and ignored (the figures without them).
func TestGitHubBudget(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("measures for seconds")
	}
	// Twelve seconds at a max age of one second stand for an hour at
	// the default five minutes.
	const idle = 12 * time.Second
	results := map[bool]budgetRun{}
	var mu sync.Mutex
	for _, conditional := range []bool{false, true} {
		t.Run(fmt.Sprintf("conditional=%v", conditional), func(t *testing.T) {
			run := runBudget(t, conditional, idle)
			mu.Lock()
			results[conditional] = run
			mu.Unlock()
			// Each second of the idle stretch is one MaxAge period,
			// twelve of which make an hour at the default 5m.
			perHour := float64(run.idle.limited()) / run.idleFor.Seconds() * 12
			share := 0.0
			if run.idle.requests > 0 {
				share = float64(run.idle.notModified) / float64(run.idle.requests)
			}
			t.Logf("idle %s: %s", run.idleFor, run.idle)
			t.Logf("FIGURES conditional=%v: new PR %d calls (%d rate-limited); idle PR ≈ %.0f rate-limited calls/hour at the default max age; 304 share while idle %.0f%%",
				conditional, run.newPR.requests, run.newPR.limited(), perHour, 100*share)
		})
	}
	with, without := results[true], results[false]
	if with.idle.requests == 0 || without.idle.requests == 0 {
		t.Fatalf("reconcile re-read nothing while idle (with %d, without %d requests): the measurement measures nothing",
			with.idle.requests, without.idle.requests)
	}
	if with.idle.conditioned == 0 || with.idle.notModified == 0 {
		t.Errorf("no conditional request answered 304 while idle: %s", with.idle)
	}
	// Re-reads of an unchanged pull request, and of the teams' member
	// lists, are conditional and free; what is left is the first re-read
	// of the comments list after its cursor moved.
	if share := float64(with.idle.notModified) / float64(with.idle.requests); share < 0.8 {
		t.Errorf("idle: only %.0f%% of the calls answered 304: %s", 100*share, with.idle)
	}
	if with.idle.writes != 0 {
		t.Errorf("an idle pull request posted %d times: %s", with.idle.writes, with.idle)
	}
	perHour := float64(with.idle.limited()) / with.idleFor.Seconds() * 12
	if perHour > 10 { // the target
		t.Errorf("an idle pull request costs about %.0f rate-limited calls an hour, want at most 10", perHour)
	}
}

// TestGitHubRetryAfterEndToEnd: GitHub refuses the first status post with
// 429 and Retry-After: 2. The gatekeeper waits the two seconds before it
// posts again, sends GitHub nothing else meanwhile, and the status is
// posted once.
func TestGitHubRetryAfterEndToEnd(t *testing.T) {
	t.Parallel()
	gh := newBudgetGitHub(t, true)
	gh.limitPosts = 1
	r := newRig(t, rigOptions{extra: []string{"GITHUB_API_URL=" + gh.URL + "/"}})
	gh.mu.Lock()
	gh.repo = r.gh
	gh.mu.Unlock()
	payload, pr := opened(t, 2, headA, releaseBody)
	r.gh.setPull(pr)
	r.github("pull_request", payload)
	eventually(t, "the status after the 429", func() bool { return len(r.gh.Statuses()) > 0 })
	r.settle(2)
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if len(gh.codes) != 2 || gh.codes[0] != http.StatusTooManyRequests || gh.codes[1] != http.StatusCreated {
		t.Fatalf("status posts answered %v, want 429 then 201", gh.codes)
	}
	refused, retried := gh.postsAt[0], gh.postsAt[1]
	if gap := retried.Sub(refused); gap < 2*time.Second {
		t.Errorf("posted again %s after a 429 asking for 2s", gap)
	}
	for _, at := range gh.callsAt {
		if at.After(refused) && at.Before(retried) {
			t.Errorf("a call reached GitHub %s into the 2 s it asked for", at.Sub(refused))
		}
	}
	if n := len(r.gh.Statuses()); n != 1 {
		t.Errorf("%d statuses posted, want 1", n)
	}

	// The lag histogram saw the status arrive 2 s or more after its
	// delivery, and the GitHub calls show the 429 and the budget left.
	resp, err := http.Get(r.s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	var count int
	var sum float64
	for _, line := range strings.Split(metrics, "\n") {
		fmt.Sscanf(line, "gatekeeper_status_lag_seconds_count %d", &count)
		fmt.Sscanf(line, "gatekeeper_status_lag_seconds_sum %g", &sum)
	}
	if count != 1 || sum < 2 || sum > 20 {
		t.Errorf("status lag: %d observed, %gs in all; want 1 of 2s or more", count, sum)
	}
	for _, want := range []string{
		`gatekeeper_github_api_calls_total{code="429",endpoint="create_status"} 1`,
		`gatekeeper_github_api_calls_total{code="201",endpoint="create_status"} 1`,
		`gatekeeper_github_rate_limit_remaining{resource="core"} 49`, // 4,9xx of the fake's 5,000
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
