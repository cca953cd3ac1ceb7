package githubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The release pull request of these tests lives in the repository of the
// recorded merged pull request (pull_request.closed.merged.json, #17 into
// main), renamed: staging → main is the release, and #17 merged into staging.
const (
	releaseHead  = "5d1e0a1b2c3d4e5f60718293a4b5c6d7e8f90123"
	mergedSHA17  = "18936fb4b760b985e35fae9aa953a349703a4c53" // the recording's merge_commit_sha
	mainTip      = "0ba5e00000000000000000000000000000000001" // the base branch's tip
	branchRoute2 = "GET /repos/sish8075/statistics-source/branches/main"
	compareRoute = "GET /repos/sish8075/statistics-source/compare/" + mainTip + "..." + releaseHead
	pullsRoute   = "GET /repos/sish8075/statistics-source/pulls"
)

var releaseKey = gatekeeper.PullKey{Owner: "sish8075", Repo: "statistics-source", Number: 20}

func releaseEvidence() *gatekeeper.Evidence {
	return &gatekeeper.Evidence{
		Key: releaseKey,
		PR: &gatekeeper.PullRequest{
			Key: releaseKey, RepoID: 436929436, HeadRepoID: 436929436, Title: "Release", Author: "sish8075", State: "open",
			HeadRef: "staging", HeadSHA: releaseHead, BaseRef: "main", BaseSHA: "0ba5e",
		},
	}
}

// recordedPull returns the recorded merged pull request with fields set,
// in the REST list schema (the webhook's object is the same object).
func recordedPull(t *testing.T, set map[string]any) string {
	t.Helper()
	return string(patchJSON(t, fixtureField(t, "pull_request.closed.merged.json", "pull_request"), set))
}

// commitsJSON is a compare response in GitHub's documented shape.
func commitsJSON(total int, shas ...string) string {
	var cs []string
	for _, s := range shas {
		cs = append(cs, fmt.Sprintf(`{"sha":%q}`, s))
	}
	return fmt.Sprintf(`{"status":"ahead","ahead_by":%d,"behind_by":0,"total_commits":%d,"commits":[%s],"files":[]}`, total, total, strings.Join(cs, ","))
}

// linkNext is a Link header naming page n of the route's path as next.
func linkNext(gh *fakeGitHub, route string, n int) string {
	path := strings.TrimPrefix(strings.SplitN(route, " ", 2)[1], "/")
	u := fmt.Sprintf("%s%s?page=%d&per_page=100", gh.URL, path, n)
	return fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, u, u)
}

// The pull requests into staging the tests list: #17 as recorded, #18 with
// issue links, #19 closed without merging (GitHub still fills a test merge
// sha), #16 merged before the release branched.
func pull18(t *testing.T) string {
	return recordedPull(t, map[string]any{
		"number": 18, "title": "Fix totals", "merge_commit_sha": "3333333333333333333333333333333333333333",
		"body":     "Resolves #41, see https://app.zenhub.com/workspaces/stats-5d0a7a9741fd098f6b7f58ac/issues/gh/acme/roadmap/7",
		"head.ref": "52-fix-totals", "user.login": "dev-alice",
	})
}

func pull19(t *testing.T) string {
	return recordedPull(t, map[string]any{"number": 19, "merged_at": nil, "merged": false, "merge_commit_sha": "1111111111111111111111111111111111111111"})
}

func pull16(t *testing.T) string {
	return recordedPull(t, map[string]any{"number": 16, "merge_commit_sha": "9999999999999999999999999999999999999999"})
}

// wantMerged is what #17 and #18 convert to.
var wantMerged = []gatekeeper.MergedPull{
	{Number: 17, Title: "feature/catalog-info", Author: "sish8075", HeadRef: "feature/catalog-info"},
	{Number: 18, Title: "Fix totals", Author: "dev-alice", HeadRef: "52-fix-totals", Links: []gatekeeper.IssueRef{
		{Owner: "acme", Repo: "roadmap", Number: 7, From: "body"},
		{Owner: "sish8075", Repo: "statistics-source", Number: 41, From: "body"},
		{Owner: "sish8075", Repo: "statistics-source", Number: 52, From: "branch"},
	}},
}

// serveMain answers the base branch's read: main is at mainTip.
func serveMain(gh *fakeGitHub) {
	gh.on(branchRoute2, jsonReply(http.StatusOK, `{"name":"main","commit":{"sha":"`+mainTip+`"},"protected":true}`))
}

func serveRelease(t *testing.T, gh *fakeGitHub) {
	t.Helper()
	serveMain(gh)
	gh.on(compareRoute, jsonReply(http.StatusOK, commitsJSON(3, "1111111111111111111111111111111111111111", mergedSHA17, "3333333333333333333333333333333333333333")))
	gh.on(pullsRoute, jsonReply(http.StatusOK, "["+strings.Join([]string{pull19(t), pull18(t), recordedPull(t, nil), pull16(t)}, ",")+"]"))
}

func mergedOf(t *testing.T, events []gatekeeper.Event) []gatekeeper.MergedPull {
	t.Helper()
	if len(events) != 2 || events[0].Name != EventBaseTip || events[0].BaseTip.SHA != mainTip {
		t.Fatalf("Gather returned %+v, want the base tip and the merged pulls", events)
	}
	e := events[1]
	if e.Name != EventMergedPulls || e.Key != releaseKey || e.SHA != releaseHead || !e.Received.Equal(testEpoch) || e.MergedPulls == nil {
		t.Fatalf("event %+v: want %s for %s at %s, received now, with a list", e, EventMergedPulls, releaseKey, releaseHead)
	}
	return *e.MergedPulls
}

func TestMergedSourceListsMergedPulls(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveRelease(t, gh)
	obs := &observed{}
	s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()), MergedSourceOptions{
		Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "main"}},
	})
	if s.Name() != "github-merged" {
		t.Errorf("Name() = %q, want github-merged", s.Name())
	}
	ev := releaseEvidence()

	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if diff := cmp.Diff(wantMerged, mergedOf(t, got)); diff != "" {
		t.Errorf("merged pulls (-want +got):\n%s", diff)
	}

	served := gh.served()
	if len(served) != 3 {
		t.Fatalf("server got %d requests, want branch, compare and list: %v", len(served), gh.paths())
	}
	wantQueries := []url.Values{
		{},
		{"per_page": {"100"}},
		{"state": {"closed"}, "base": {"staging"}, "sort": {"updated"}, "direction": {"desc"}, "per_page": {"100"}},
	}
	for i, r := range served {
		q, _ := url.ParseQuery(r.Query)
		if diff := cmp.Diff(wantQueries[i], q); diff != "" {
			t.Errorf("request %d %s query (-want +got):\n%s", i, r.Path, diff)
		}
	}
	if diff := cmp.Diff([]string{"get_branch 200", "compare_commits 200", "list_pulls 200"}, obs.list()); diff != "" {
		t.Errorf("observed calls (-want +got):\n%s", diff)
	}

	// Folded, the list is what the policy sees, and is not read again.
	for _, e := range got {
		ev.Apply(e)
	}
	links := gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: testEpoch}).Map()["links"].(map[string]any)
	if links["merged_pulls_known"] != true || len(links["merged_pulls"].([]any)) != 2 {
		t.Errorf("input.links = %v, want two merged pulls, known", links)
	}
	again, err := s.Gather(context.Background(), ev)
	if err != nil || again != nil || len(gh.served()) != 3 {
		t.Errorf("second Gather: %d events, error %v, %d requests in all; want nothing new", len(again), err, len(gh.served()))
	}
}

func TestMergedSourceWhenDue(t *testing.T) {
	t.Parallel()
	read := func(ago time.Duration, sha string) func(*gatekeeper.Evidence) {
		return func(ev *gatekeeper.Evidence) {
			ev.MergedPullsAt = testEpoch.Add(-ago)
			ev.Log = []gatekeeper.LogEntry{
				{Event: EventMergedPulls, SHA: sha, At: testEpoch.Add(-ago)},
				{Delivery: "d1", Event: "issue_comment.created", At: testEpoch.Add(-ago / 2)},
			}
		}
	}
	tests := []struct {
		name   string
		change func(*gatekeeper.Evidence)
		gated  gatekeeper.BranchPairs
		want   bool
	}{
		{name: "never read", change: func(*gatekeeper.Evidence) {}, want: true},
		{name: "read a minute ago for this head", change: read(time.Minute, releaseHead)},
		{name: "read a minute ago for an older head", change: read(time.Minute, "0ld"), want: true},
		{name: "read MaxAge ago", change: read(5*time.Minute, releaseHead), want: true},
		{
			name: "read a minute ago, entry gone from the log",
			change: func(ev *gatekeeper.Evidence) {
				read(time.Minute, releaseHead)(ev)
				ev.Log = ev.Log[1:]
			},
			want: true,
		},
		{name: "gated pair", change: func(*gatekeeper.Evidence) {}, gated: gatekeeper.BranchPairs{{Head: "staging", Base: "main"}}, want: true},
		{name: "not a gated pair", change: func(*gatekeeper.Evidence) {}, gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}},
		{name: "closed", change: func(ev *gatekeeper.Evidence) { ev.PR.State = "closed" }},
		{name: "no snapshot", change: func(ev *gatekeeper.Evidence) { ev.PR = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveRelease(t, gh)
			s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()), MergedSourceOptions{Gated: tt.gated})
			ev := releaseEvidence()
			tt.change(ev)

			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			wantEvents, wantRequests := 0, 0
			if tt.want {
				wantEvents, wantRequests = 2, 3
			}
			if len(got) != wantEvents || len(gh.served()) != wantRequests {
				t.Errorf("Gather: %d events, %d requests; want %d, %d", len(got), len(gh.served()), wantEvents, wantRequests)
			}
		})
	}
}

func TestMergedSourcePages(t *testing.T) {
	t.Parallel()
	dated := func(sha, date string) string {
		return fmt.Sprintf(`{"sha":%q,"commit":{"committer":{"name":"GitHub","email":"noreply@github.com","date":%q}}}`, sha, date)
	}
	// #15 was last updated eleven days before the recorded merge of #17.
	pull15 := func(t *testing.T) string {
		return recordedPull(t, map[string]any{"number": 15, "updated_at": "2022-10-01T08:00:00Z", "merged_at": "2022-10-01T08:00:00Z",
			"merge_commit_sha": "1515151515151515151515151515151515151515"})
	}
	tests := []struct {
		name      string
		script    func(t *testing.T, gh *fakeGitHub)
		want      []gatekeeper.MergedPull
		wantPaths []string
	}{
		{
			name: "both lists span two pages",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, commitsJSON(3, "1111111111111111111111111111111111111111", mergedSHA17),
					"Link", linkNext(gh, compareRoute, 2)))
				gh.on(compareRoute+"?page=2", jsonReply(http.StatusOK, commitsJSON(3, "3333333333333333333333333333333333333333")))
				gh.on(pullsRoute, jsonReply(http.StatusOK, "["+pull19(t)+","+recordedPull(t, nil)+"]", "Link", linkNext(gh, pullsRoute, 2)))
				gh.on(pullsRoute+"?page=2", jsonReply(http.StatusOK, "["+pull18(t)+","+pull16(t)+"]"))
			},
			want: wantMerged,
			wantPaths: []string{
				compareRoute + "?per_page=100", compareRoute + "?page=2&per_page=100",
				pullsRoute + "?base=staging&direction=desc&per_page=100&sort=updated&state=closed",
				pullsRoute + "?base=staging&direction=desc&page=2&per_page=100&sort=updated&state=closed",
			},
		},
		{
			name: "listing stops at pull requests updated before the oldest commit",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, `{"total_commits":1,"commits":[`+dated(mergedSHA17, "2022-10-12T08:33:55Z")+`]}`))
				gh.on(pullsRoute, jsonReply(http.StatusOK, "["+recordedPull(t, nil)+","+pull15(t)+"]", "Link", linkNext(gh, pullsRoute, 2)))
				gh.on(pullsRoute+"?page=2", jsonReply(http.StatusOK, "["+pull16(t)+"]"))
			},
			want: wantMerged[:1],
			wantPaths: []string{
				compareRoute + "?per_page=100",
				pullsRoute + "?base=staging&direction=desc&per_page=100&sort=updated&state=closed",
			},
		},
		{
			name: "an undated commit reads on",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, `{"total_commits":2,"commits":[`+dated(mergedSHA17, "2022-10-12T08:33:55Z")+`,{"sha":"1515151515151515151515151515151515151515"}]}`))
				gh.on(pullsRoute, jsonReply(http.StatusOK, "["+recordedPull(t, nil)+","+pull16(t)+"]", "Link", linkNext(gh, pullsRoute, 2)))
				gh.on(pullsRoute+"?page=2", jsonReply(http.StatusOK, "["+pull15(t)+"]"))
			},
			want: []gatekeeper.MergedPull{
				{Number: 15, Title: "feature/catalog-info", Author: "sish8075", HeadRef: "feature/catalog-info"},
				wantMerged[0],
			},
			wantPaths: []string{
				compareRoute + "?per_page=100",
				pullsRoute + "?base=staging&direction=desc&per_page=100&sort=updated&state=closed",
				pullsRoute + "?base=staging&direction=desc&page=2&per_page=100&sort=updated&state=closed",
			},
		},
		{
			name: "empty comparison is an empty list",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, `{"status":"identical","ahead_by":0,"behind_by":0,"total_commits":0,"commits":[]}`))
			},
			want:      []gatekeeper.MergedPull{},
			wantPaths: []string{compareRoute + "?per_page=100"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveMain(gh)
			tt.script(t, gh)
			s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()), MergedSourceOptions{})

			got, err := s.Gather(context.Background(), releaseEvidence())
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			list := mergedOf(t, got)
			if list == nil {
				t.Errorf("merged pulls are nil, want a list")
			}
			if diff := cmp.Diff(tt.want, list); diff != "" {
				t.Errorf("merged pulls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(append([]string{branchRoute2}, tt.wantPaths...), gh.paths()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergedSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        MergedSourceOptions
		script      func(t *testing.T, gh *fakeGitHub)
		wantErr     error
		wantInError string
	}{
		{
			name: "more commits than GitHub returned",
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, commitsJSON(300, mergedSHA17, "3333333333333333333333333333333333333333")))
			},
			wantInError: "300 commits, more than the 2 read",
		},
		{
			name: "more commits than MaxCommits",
			opts: MergedSourceOptions{MaxCommits: 2},
			script: func(t *testing.T, gh *fakeGitHub) {
				gh.on(compareRoute, jsonReply(http.StatusOK, commitsJSON(3, mergedSHA17, "3333333333333333333333333333333333333333"),
					"Link", linkNext(gh, compareRoute, 2)))
			},
			wantInError: "3 commits, more than the 2 read",
		},
		{
			name: "more closed pull requests than MaxPullPages",
			opts: MergedSourceOptions{MaxPullPages: 1},
			script: func(t *testing.T, gh *fakeGitHub) {
				serveRelease(t, gh)
				gh.on(pullsRoute, jsonReply(http.StatusOK, "["+recordedPull(t, nil)+"]", "Link", linkNext(gh, pullsRoute, 2)))
			},
			wantInError: "1 pages read and older ones remain",
		},
		{
			name:        "head commit unknown to GitHub",
			script:      func(*testing.T, *fakeGitHub) {},
			wantInError: "comparing 0ba5e0000000...5d1e0a1b2c3d in sish8075/statistics-source",
		},
		{
			name: "rate limit fails at once",
			script: func(t *testing.T, gh *fakeGitHub) {
				serveRelease(t, gh)
				gh.on(pullsRoute, jsonReply(http.StatusForbidden, primaryLimitBody,
					"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(10*time.Minute)))
			},
			wantErr:     ErrRateLimited,
			wantInError: "listing pull requests merged into staging",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveMain(gh)
			tt.script(t, gh)
			s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()), tt.opts)

			got, err := s.Gather(context.Background(), releaseEvidence())
			if err == nil {
				t.Fatalf("Gather returned %+v and no error", got)
			}
			if got != nil {
				t.Errorf("Gather returned events with its error: %+v", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
		})
	}
}

// TestMergedSourceSharesListing: release pull requests from one branch
// share the listing of closed pull requests while it is younger than
// MaxAge and their comparison holds nothing it was not read for; each
// still compares its own head. A comparison with a commit the listing was
// not read for (a pull request merged since) reads the listing again, and
// so does its age reaching MaxAge. A shared list keeps its age: the event
// is received when the listing was read.
func TestMergedSourceSharesListing(t *testing.T) {
	t.Parallel()
	const other = "6e2f1b2c3d4e5f60718293a4b5c6d7e8f9012345"
	gh := newFakeGitHub(t, "")
	serveRelease(t, gh)
	// The other release pull request's head has #17 and #18 merged, not
	// the closed #19's test merge.
	gh.on("GET /repos/sish8075/statistics-source/compare/"+mainTip+"..."+other,
		jsonReply(http.StatusOK, commitsJSON(2, mergedSHA17, "3333333333333333333333333333333333333333")),
		jsonReply(http.StatusOK, commitsJSON(3, mergedSHA17, "3333333333333333333333333333333333333333", "4444444444444444444444444444444444444444")))
	tm, obs := newFakeTime(), &observed{}
	s := NewMergedSource(newTestClient(t, gh.URL, tm, obs, testRetry()), MergedSourceOptions{
		Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "main"}},
	})
	gather := func(number int, head string) gatekeeper.Event {
		t.Helper()
		ev := releaseEvidence()
		pr := *ev.PR
		pr.Key.Number, pr.HeadSHA = number, head
		ev.PR, ev.Key = &pr, pr.Key
		got, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].MergedPulls == nil {
			t.Fatalf("Gather returned %+v, want the base tip and one merged pulls event", got)
		}
		return got[1]
	}
	calls := func() []string {
		var out []string
		for _, c := range obs.list() {
			out = append(out, strings.Fields(c)[0])
		}
		return out
	}

	first := gather(20, releaseHead)
	if diff := cmp.Diff(wantMerged, *first.MergedPulls); diff != "" {
		t.Errorf("first list (-want +got):\n%s", diff)
	}
	tm.Sleep(context.Background(), DefaultMergedMaxAge/2)
	shared := gather(21, other)
	if diff := cmp.Diff(wantMerged, *shared.MergedPulls); diff != "" {
		t.Errorf("shared list (-want +got):\n%s", diff)
	}
	if !shared.Received.Equal(testEpoch) {
		t.Errorf("shared list received at %s, want when it was read (%s)", shared.Received, testEpoch)
	}
	if diff := cmp.Diff([]string{"get_branch", "compare_commits", "list_pulls", "get_branch", "compare_commits"}, calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// A commit the listing was not read for: read again.
	again := gather(21, other)
	if diff := cmp.Diff([]string{"get_branch", "compare_commits", "list_pulls", "get_branch", "compare_commits", "get_branch", "compare_commits", "list_pulls"}, calls()); diff != "" {
		t.Errorf("calls after a merge since (-want +got):\n%s", diff)
	}
	if !again.Received.Equal(tm.Now()) {
		t.Errorf("a list read now received at %s, want %s", again.Received, tm.Now())
	}
	// MaxAge after that read, the first head's comparison (a subset)
	// no longer shares it.
	tm.Sleep(context.Background(), DefaultMergedMaxAge)
	gather(20, releaseHead)
	if n := len(calls()); n != 11 {
		t.Errorf("after MaxAge: calls %v, want the listing read again", calls())
	}
}

// TestMergedSourceBaseTipFromBranch: a tag named like the base branch
// (anyone with push rights can create tag "main") must not stand in for
// it. By name, the comparison resolves "main" as git does, tag first, and
// names the tag's old commit as base_commit; the source reads the branch
// instead, returns its tip, and compares from that commit, so that a
// PR-merge build of the old commit is not counted fresh and the commit
// set is the branch's. BaseTipSource, which sees the tip, makes no call.
func TestMergedSourceBaseTipFromBranch(t *testing.T) {
	t.Parallel()
	const tagged = "7a9000000000000000000000000000000000000f" // tag main: an old commit
	gh := newFakeGitHub(t, "")
	serveRelease(t, gh)
	gh.on("GET /repos/sish8075/statistics-source/compare/main..."+releaseHead, jsonReply(http.StatusOK,
		strings.Replace(commitsJSON(4, "1111111111111111111111111111111111111111", mergedSHA17, "3333333333333333333333333333333333333333", "7777777777777777777777777777777777777777"),
			`{"status"`, `{"base_commit":{"sha":"`+tagged+`"},"status"`, 1)))
	gh.on(compareRoute, jsonReply(http.StatusOK, strings.Replace(commitsJSON(3, "1111111111111111111111111111111111111111", mergedSHA17, "3333333333333333333333333333333333333333"),
		`{"status"`, `{"base_commit":{"sha":"`+mainTip+`"},"status"`, 1)))
	c := newTestClient(t, gh.URL, newFakeTime(), nil, testRetry())
	s := NewMergedSource(c, MergedSourceOptions{Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "main"}}})
	ev := releaseEvidence()
	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != EventBaseTip || got[1].Name != EventMergedPulls {
		t.Fatalf("Gather returned %+v, want the base tip then the merged pulls", got)
	}
	want := gatekeeper.BaseTip{Ref: "main", SHA: mainTip, At: testEpoch, Source: "github"}
	if diff := cmp.Diff(want, *got[0].BaseTip); diff != "" {
		t.Errorf("base tip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMerged, *got[1].MergedPulls); diff != "" {
		t.Errorf("merged pulls (-want +got):\n%s", diff)
	}
	for _, p := range gh.paths() {
		if strings.Contains(p, "/compare/") && !strings.Contains(p, "/compare/"+mainTip+"...") {
			t.Errorf("compared by name: %s", p)
		}
	}
	for _, e := range got {
		ev.Apply(e)
	}
	before := len(gh.served())
	events, err := NewBaseTipSource(c, 0).Gather(context.Background(), ev)
	if err != nil || len(events) != 0 || len(gh.served()) != before {
		t.Errorf("BaseTipSource after the comparison: %d events, %d calls, %v; want none", len(events), len(gh.served())-before, err)
	}
}

// TestMergedSourceListingNotSharedAcrossBranches: a listing is shared only
// by pull requests from the branch it lists the merges into.
func TestMergedSourceListingNotSharedAcrossBranches(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveRelease(t, gh)
	obs := &observed{}
	s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()), MergedSourceOptions{})
	for i, headRef := range []string{"staging", "hotfix"} {
		ev := releaseEvidence()
		pr := *ev.PR
		pr.Key.Number, pr.HeadRef = 20+i, headRef
		ev.PR, ev.Key = &pr, pr.Key
		if _, err := s.Gather(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"get_branch 200", "compare_commits 200", "list_pulls 200", "get_branch 200", "compare_commits 200", "list_pulls 200"}
	if diff := cmp.Diff(want, obs.list()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestMergedSourceSharedMergeCommit: two merged pull requests GitHub gives
// the same merge_commit_sha (a commit pushed to the head branch that is
// the head of both) are both listed: keyed by merge commit, one would
// hide the other, and an unlinked one would pass unchecked.
func TestMergedSourceSharedMergeCommit(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	serveRelease(t, gh)
	twin := recordedPull(t, map[string]any{"number": 21, "title": "Same head", "merge_commit_sha": "3333333333333333333333333333333333333333",
		"body": "", "head.ref": "same-head", "user.login": "dev-bob"})
	gh.on(pullsRoute, jsonReply(http.StatusOK, "["+strings.Join([]string{pull19(t), pull18(t), twin, recordedPull(t, nil), pull16(t)}, ",")+"]"))
	s := NewMergedSource(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()), MergedSourceOptions{})
	got, err := s.Gather(context.Background(), releaseEvidence())
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]gatekeeper.MergedPull{}, wantMerged...), gatekeeper.MergedPull{Number: 21, Title: "Same head", Author: "dev-bob", HeadRef: "same-head"})
	if diff := cmp.Diff(want, mergedOf(t, got)); diff != "" {
		t.Errorf("merged pulls (-want +got):\n%s", diff)
	}
}
