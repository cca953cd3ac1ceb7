package gatekeeper

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func pr(head string, updated time.Time) *PullRequest {
	return &PullRequest{
		Key: PullKey{"acme", "shop", 7}, Author: "dev", State: "open",
		HeadRef: "staging", BaseRef: "master", HeadSHA: head, UpdatedAt: updated,
	}
}

func TestApplyKeepsNewestSnapshot(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(Event{Name: "pull_request.synchronize", Key: PullKey{"acme", "shop", 7}, PullRequest: pr("bbb", t0.Add(time.Minute)), Received: t0.Add(2 * time.Minute)})
	// An older "opened" delivered late must not roll the head back.
	ev.Apply(Event{Name: "pull_request.opened", Key: PullKey{"acme", "shop", 7}, PullRequest: pr("aaa", t0), Received: t0.Add(time.Second)})
	if got := ev.HeadSHA(); got != "bbb" {
		t.Errorf("head = %q, want bbb", got)
	}
	if diff := cmp.Diff([]HeadChange{{SHA: "bbb", At: t0.Add(time.Minute)}}, ev.Heads); diff != "" {
		t.Errorf("heads (-want +got):\n%s", diff)
	}
	if len(ev.Log) != 2 {
		t.Errorf("log has %d entries, want 2", len(ev.Log))
	}
}

func TestApplyTracksHeadHistory(t *testing.T) {
	t.Parallel()
	var ev Evidence
	for i, sha := range []string{"aaa", "aaa", "bbb", "ccc"} {
		ev.Apply(Event{PullRequest: pr(sha, t0.Add(time.Duration(i)*time.Minute)), Received: t0.Add(time.Duration(i) * time.Minute)})
	}
	var got []string
	for _, h := range ev.Heads {
		got = append(got, h.SHA)
	}
	if diff := cmp.Diff([]string{"aaa", "bbb", "ccc"}, got); diff != "" {
		t.Errorf("heads (-want +got):\n%s", diff)
	}
}

func TestApplyUpsertsAndBoundsLog(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(Event{Review: &Review{ID: 1, User: "qa", State: "approved", CommitID: "aaa", SubmittedAt: t0}})
	ev.Apply(Event{Review: &Review{ID: 1, User: "qa", State: "dismissed", CommitID: "aaa", SubmittedAt: t0}})
	ev.Apply(Event{Check: &Check{Name: "ci", SHA: "aaa", State: "pending", UpdatedAt: t0.Add(time.Minute)}})
	ev.Apply(Event{Check: &Check{Name: "ci", SHA: "aaa", State: "failure", UpdatedAt: t0}}) // older: ignored
	ev.Apply(Event{Comment: &Comment{ID: 9, Body: "/go", UpdatedAt: t0}})
	ev.Apply(Event{Comment: &Comment{ID: 9, Body: "/nogo broken", UpdatedAt: t0.Add(time.Second)}})
	if len(ev.Reviews) != 1 || ev.Reviews[0].State != "DISMISSED" {
		t.Errorf("reviews %+v, want one DISMISSED", ev.Reviews)
	}
	if len(ev.Checks) != 1 || ev.Checks[0].State != "pending" {
		t.Errorf("checks %+v, want the newer pending one", ev.Checks)
	}
	if len(ev.Comments) != 1 || ev.Comments[0].Command == nil || *ev.Comments[0].Command != (Command{Kind: "nogo", Reason: "broken"}) || ev.Comments[0].Body != "" {
		t.Errorf("comments %+v", ev.Comments)
	}
	for i := 0; i < MaxLog+10; i++ {
		ev.Apply(Event{Name: "x"})
	}
	if len(ev.Log) != MaxLog {
		t.Errorf("log length %d, want %d", len(ev.Log), MaxLog)
	}
}

func TestLatestReviews(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reviews []Review
		want    []Review
	}{
		{
			name: "latest review per user wins",
			reviews: []Review{
				{ID: 1, User: "qa", State: "CHANGES_REQUESTED", SubmittedAt: t0},
				{ID: 2, User: "qa", State: "APPROVED", SubmittedAt: t0.Add(2 * time.Minute)},
			},
			want: []Review{{ID: 2, User: "qa", State: "APPROVED", SubmittedAt: t0.Add(2 * time.Minute)}},
		},
		{
			name: "a comment does not withdraw an approval",
			reviews: []Review{
				{ID: 1, User: "sre", State: "APPROVED", SubmittedAt: t0},
				{ID: 2, User: "sre", State: "COMMENTED", SubmittedAt: t0.Add(time.Minute)},
			},
			want: []Review{{ID: 1, User: "sre", State: "APPROVED", SubmittedAt: t0}},
		},
		{
			name: "dismissed stays dismissed",
			reviews: []Review{
				{ID: 1, User: "lead", State: "DISMISSED", SubmittedAt: t0},
			},
			want: []Review{{ID: 1, User: "lead", State: "DISMISSED", SubmittedAt: t0}},
		},
		{
			name: "ordered by user, same time broken by id",
			reviews: []Review{
				{ID: 5, User: "b", State: "APPROVED", SubmittedAt: t0},
				{ID: 4, User: "b", State: "CHANGES_REQUESTED", SubmittedAt: t0},
				{ID: 3, User: "a", State: "APPROVED", SubmittedAt: t0},
			},
			want: []Review{
				{ID: 3, User: "a", State: "APPROVED", SubmittedAt: t0},
				{ID: 5, User: "b", State: "APPROVED", SubmittedAt: t0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := Evidence{Reviews: tc.reviews}
			if diff := cmp.Diff(tc.want, ev.LatestReviews()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildInputPinsToHead(t *testing.T) {
	t.Parallel()
	ev := Evidence{PR: pr("new", t0)}
	ev.Apply(Event{Review: &Review{ID: 1, User: "qa", State: "APPROVED", CommitID: "old", SubmittedAt: t0}})
	ev.Apply(Event{Review: &Review{ID: 2, User: "sre", State: "APPROVED", CommitID: "new", SubmittedAt: t0}})
	ev.Apply(Event{Check: &Check{Name: "ci", SHA: "old", State: "success"}})
	ev.Apply(Event{Check: &Check{Name: "ci", SHA: "new", State: "pending"}})
	ev.Apply(Event{Check: &Check{Name: "release-gate", SHA: "new", State: "failure"}})
	in := BuildInput(&ev, InputOptions{Now: t0, Gated: BranchPairs{{"staging", "master"}}, StatusContext: "release-gate"}).Map()

	reviews := in["reviews"].([]any)
	current := map[string]bool{}
	for _, r := range reviews {
		m := r.(map[string]any)
		current[m["user"].(string)] = m["current"].(bool)
	}
	if diff := cmp.Diff(map[string]bool{"qa": false, "sre": true}, current); diff != "" {
		t.Errorf("review currency (-want +got):\n%s", diff)
	}
	checks := in["checks"].([]any)
	if len(checks) != 1 || checks[0].(map[string]any)["state"] != "pending" {
		t.Errorf("checks %v: want only the current head's ci check, not our own context", checks)
	}
	p := in["pull_request"].(map[string]any)
	if p["gated"] != true || p["head_sha"] != "new" {
		t.Errorf("pull_request %v", p)
	}
	if in["version"] != InputVersion || in["now"] != "2026-11-25T10:00:00Z" {
		t.Errorf("version %v now %v", in["version"], in["now"])
	}
}

func TestBuildInputWithoutPull(t *testing.T) {
	t.Parallel()
	in := BuildInput(&Evidence{}, InputOptions{Now: t0}).Map()
	if in["pull_request"] != nil {
		t.Errorf("pull_request = %v, want nil", in["pull_request"])
	}
	if len(in["reviews"].([]any)) != 0 {
		t.Errorf("reviews without a head must be empty")
	}
}

func TestDescription(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"success", Decision{State: Success, Channel: "stable"}, "All release checks pass (channel stable)"},
		{"failure names reasons first", Decision{State: Failure, Reasons: []string{"stage deploy FAILED", "coverage 71% < 80%"}, Waiting: []string{"QA approval"}},
			"Failing: stage deploy FAILED; coverage 71% < 80%"},
		{"pending lists what is awaited", Decision{State: Pending, Waiting: []string{"Jenkins PR-merge build of ec26c3e", "SRE approval"}},
			"Waiting for: Jenkins PR-merge build of ec26c3e; SRE approval"},
		{"error", Decision{State: Error, Reasons: []string{"release policy: does not compile"}}, "Error: release policy: does not compile"},
		{"too many reasons are counted", Decision{State: Pending, Waiting: []string{strings.Repeat("a", 55), strings.Repeat("b", 55), strings.Repeat("c", 55)}},
			"Waiting for: " + strings.Repeat("a", 55) + "; " + strings.Repeat("b", 55) + " (+1 more)"},
		{"one long reason is cut", Decision{State: Failure, Reasons: []string{long}}, "Failing: " + strings.Repeat("x", 130) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.d.Description()
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if n := len([]rune(got)); n > MaxDescription {
				t.Errorf("description has %d characters, over %d", n, MaxDescription)
			}
		})
	}
}

func FuzzDescription(f *testing.F) {
	f.Add("pending", "Jenkins build", "ünïcødé ✓ reason")
	f.Add("failure", strings.Repeat("é", 150), "")
	f.Fuzz(func(t *testing.T, state, a, b string) {
		d := Decision{State: State(state), Reasons: []string{a, b}, Waiting: []string{b, a}}
		if n := len([]rune(d.Description())); n > MaxDescription {
			t.Fatalf("description of %d characters", n)
		}
	})
}

func TestParsePullKey(t *testing.T) {
	t.Parallel()
	k := PullKey{"acme", "shop.web", 12}
	got, err := ParsePullKey(k.String())
	if err != nil || got != k {
		t.Errorf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "acme", "acme/shop", "acme/shop#", "acme/shop#x", "/shop#1", "acme/#1", "acme/shop#0"} {
		if _, err := ParsePullKey(bad); err == nil {
			t.Errorf("ParsePullKey(%q) accepted", bad)
		}
	}
}

func TestParseBranchPairs(t *testing.T) {
	t.Parallel()
	p, err := ParseBranchPairs(" staging:master , hotfix:master")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Gated("staging", "master") || !p.Gated("hotfix", "master") || p.Gated("master", "staging") {
		t.Errorf("pairs %v", p)
	}
	if p.String() != "staging:master,hotfix:master" {
		t.Errorf("String() = %q", p.String())
	}
	for _, bad := range []string{"", "staging", ":master", "staging:", ","} {
		if _, err := ParseBranchPairs(bad); err == nil {
			t.Errorf("ParseBranchPairs(%q) accepted", bad)
		}
	}
}

// The time a label was added survives snapshots that carry no label times
// (other webhooks, the REST source), is dropped when the label goes, and
// is new when the label comes back; an older "labeled" delivered late does
// not set it back.
func TestApplyKeepsLabelTimes(t *testing.T) {
	t.Parallel()
	key := PullKey{"acme", "shop", 7}
	snap := func(at time.Time, labeledAt map[string]time.Time, labels ...string) Event {
		p := pr("aaa", at)
		p.Labels, p.LabeledAt = labels, labeledAt
		return Event{Name: "pull_request.x", Key: key, PullRequest: p, Received: at}
	}
	var ev Evidence
	ev.Apply(snap(t0, nil))
	ev.Apply(snap(t0.Add(time.Minute), map[string]time.Time{"emergency-release": t0.Add(time.Minute)}, "emergency-release"))
	ev.Apply(snap(t0.Add(2*time.Minute), nil, "emergency-release", "bug")) // REST, or an "edited"
	want := map[string]time.Time{"emergency-release": t0.Add(time.Minute)}
	if diff := cmp.Diff(want, ev.PR.LabeledAt); diff != "" {
		t.Fatalf("after a snapshot without times (-want +got):\n%s", diff)
	}
	cp := ev.Clone()
	cp.PR.LabeledAt["emergency-release"] = t0
	if !ev.PR.LabeledAt["emergency-release"].Equal(t0.Add(time.Minute)) {
		t.Fatal("Clone shares LabeledAt with the original")
	}
	ev.Apply(snap(t0.Add(3*time.Minute), nil, "bug")) // unlabeled
	if ev.PR.LabeledAt != nil {
		t.Fatalf("after the label went: %v, want none", ev.PR.LabeledAt)
	}
	ev.Apply(snap(t0.Add(4*time.Minute), nil, "bug", "emergency-release")) // back, its "labeled" not seen yet
	if ev.PR.LabeledAt != nil {
		t.Fatalf("label back without its labeled event: %v, want no time", ev.PR.LabeledAt)
	}
	ev.Apply(snap(t0.Add(5*time.Minute), map[string]time.Time{"emergency-release": t0.Add(5 * time.Minute)}, "bug", "emergency-release"))
	ev.Apply(snap(t0.Add(90*time.Second), map[string]time.Time{"emergency-release": t0.Add(90 * time.Second)}, "emergency-release")) // late, older
	want = map[string]time.Time{"emergency-release": t0.Add(5 * time.Minute)}
	if diff := cmp.Diff(want, ev.PR.LabeledAt); diff != "" {
		t.Errorf("after a late older labeled (-want +got):\n%s", diff)
	}
}

// TestApplyLogKeepsNewest: past MaxLog the log holds the newest MaxLog
// entries in the order applied, however many appends went by.
func TestApplyLogKeepsNewest(t *testing.T) {
	t.Parallel()
	ev := &Evidence{}
	const n = 5*MaxLog + 37
	for i := range n {
		ev.Apply(Event{Name: "x", Delivery: strconv.Itoa(i)})
		want := min(i+1, MaxLog)
		if len(ev.Log) != want {
			t.Fatalf("after %d appends: %d entries, want %d", i+1, len(ev.Log), want)
		}
		if first := i + 1 - want; ev.Log[0].Delivery != strconv.Itoa(first) || ev.Log[want-1].Delivery != strconv.Itoa(i) {
			t.Fatalf("after %d appends: log from %s to %s, want %d to %d", i+1, ev.Log[0].Delivery, ev.Log[want-1].Delivery, first, i)
		}
	}
}

// TestApplyFullLogDoesNotCopyIt: an append to a full log does not copy
// the log (it used to: 200 entries of garbage per delivery); the array
// is copied once per many appends, so the average is below one
// allocation.
func TestApplyFullLogDoesNotCopyIt(t *testing.T) {
	ev := &Evidence{}
	for range MaxLog {
		ev.Apply(Event{Name: "x"})
	}
	e := Event{Name: "status", Delivery: "d"}
	if allocs := testing.AllocsPerRun(1000, func() { ev.Apply(e) }); allocs >= 1 {
		t.Errorf("an append to a full log allocates %.2f times, want below 1", allocs)
	}
	if len(ev.Log) != MaxLog {
		t.Errorf("log has %d entries, want %d", len(ev.Log), MaxLog)
	}
}

func TestLogAppended(t *testing.T) {
	t.Parallel()
	entries := func(ids ...int) []LogEntry {
		out := []LogEntry{}
		for _, id := range ids {
			out = append(out, LogEntry{Delivery: strconv.Itoa(id), Event: "x", At: t0.Add(time.Duration(id) * time.Second)})
		}
		return out
	}
	tests := []struct {
		name             string
		stored, log      []LogEntry
		wantDrop, wantKp int
	}{
		{"nothing", nil, nil, 0, 0},
		{"first entries", nil, entries(1, 2), 0, 0},
		{"unchanged", entries(1, 2, 3), entries(1, 2, 3), 0, 3},
		{"appended", entries(1, 2, 3), entries(1, 2, 3, 4, 5), 0, 3},
		{"appended and trimmed", entries(1, 2, 3), entries(3, 4, 5), 2, 1},
		{"trimmed past everything stored", entries(1, 2, 3), entries(4, 5), 3, 0},
		{"emptied", entries(1, 2, 3), nil, 3, 0},
		{"changed inside", entries(1, 2, 3), entries(1, 9, 3, 4), 3, 0},
		{"changed entry", entries(1, 2, 3), append(entries(1, 2), LogEntry{Delivery: "3", Event: "y", At: t0.Add(3 * time.Second)}), 3, 0},
		{"same time in another zone", entries(1), []LogEntry{{Delivery: "1", Event: "x", At: t0.Add(time.Second).In(time.FixedZone("x", 3600))}}, 0, 1},
		{"repeated entries", entries(1, 1, 1), entries(1, 1, 1, 1), 0, 3},
		{"repeated entries trimmed", entries(1, 1, 2), entries(1, 2, 1), 1, 2},
	}
	for _, tt := range tests {
		drop, kept := LogAppended(tt.stored, tt.log)
		if drop != tt.wantDrop || kept != tt.wantKp {
			t.Errorf("%s: LogAppended = %d, %d; want %d, %d", tt.name, drop, kept, tt.wantDrop, tt.wantKp)
		}
		// Whatever it says rebuilds log from stored.
		got := append(append([]LogEntry{}, tt.stored[drop:]...), tt.log[kept:]...)
		if len(got) != len(tt.log) {
			t.Errorf("%s: rebuilt %d entries, want %d", tt.name, len(got), len(tt.log))
			continue
		}
		for i := range got {
			if !got[i].equal(tt.log[i]) {
				t.Errorf("%s: rebuilt entry %d = %+v, want %+v", tt.name, i, got[i], tt.log[i])
			}
		}
	}
}
