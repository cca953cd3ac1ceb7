package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Opener returns a new, empty store that stamps recorded deliveries with
// clock. The suite closes the store when the test ends.
type Opener func(t *testing.T, clock gatekeeper.Clock) gatekeeper.Store

// Reopener opens again the storage behind closed, a store that an Opener
// returned and the suite has since closed. The suite closes the store it
// returns.
type Reopener func(t *testing.T, closed gatekeeper.Store, clock gatekeeper.Clock) gatekeeper.Store

// Clock is a gatekeeper.Clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is where every suite clock starts.
var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// Pull requests the suite works with.
var (
	pr1 = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 101}
	pr2 = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 102}
	pr3 = gatekeeper.PullKey{Owner: "acme", Repo: "billing", Number: 7}
)

// Run runs the conformance suite against the stores open returns, one fresh
// store per subtest.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"RecordCreatesEvidenceAndQueues", testRecordCreates},
		{"RecordAppliesToEveryKey", testRecordEveryKey},
		{"DuplicateDeliveryChangesNothing", testDuplicate},
		{"EmptyDeliveryNeverDeduplicated", testEmptyDelivery},
		{"UpdateMissingKey", testUpdateMissing},
		{"UpdateReturnsWhatWasWritten", testUpdateReturns},
		{"VersionIncreasesOnEveryWrite", testVersion},
		{"EvidenceMissing", testEvidenceMissing},
		{"EvidenceIsACopy", testEvidenceCopy},
		{"Pulls", testPulls},
		{"PullsForSHA", testPullsForSHA},
		{"PullsIndexed", testPullsIndexed},
		{"Queue", testQueue},
		{"QueueCoalesces", testCoalesce},
		{"Decisions", testDecisions},
		{"DecisionsKeepsMaxDecisions", testDecisionsTrim},
		{"PolicyRevisions", testPolicyRevisions},
		{"ForgetDeliveries", testForget},
		{"Ping", testPing},
		{"ConcurrentRecords", testConcurrentRecords},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"ConcurrentRecordsAndUpdates", testConcurrentRecordsAndUpdates},
		{"DeliveryWithoutKeysIsAClaim", testClaim},
		{"Lease", testLease},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"NamedLease", testNamedLease},
		{"Settle", testSettle},
		{"LogKeepsTheNewest", testLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open)
		})
	}
}

// RunDurability checks that what a store accepted survives closing it and
// opening the same storage again with reopen.
func RunDurability(t *testing.T, open Opener, reopen Reopener) {
	t.Helper()
	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		testReopen(t, open, reopen)
	})
}

// openStore opens a store with a suite clock and closes it when t ends.
func openStore(t *testing.T, open Opener) (gatekeeper.Store, *Clock) {
	t.Helper()
	clock := NewClock(start)
	s := open(t, clock)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s, clock
}

// reviewEvent is a webhook event carrying one review.
func reviewEvent(key gatekeeper.PullKey, delivery string, id int64) gatekeeper.Event {
	at := start.Add(time.Duration(id) * time.Second)
	return gatekeeper.Event{
		Delivery: delivery,
		Name:     "pull_request_review.submitted",
		Received: at,
		Key:      key,
		SHA:      "1111111111111111111111111111111111111111",
		Review: &gatekeeper.Review{
			ID: id, User: fmt.Sprintf("reviewer%d", id), State: "approved",
			CommitID:    "1111111111111111111111111111111111111111",
			SubmittedAt: at, AuthorAssociation: "MEMBER",
		},
	}
}

// pullEvent is a webhook event carrying a pull request snapshot with head
// sha, taken at the given minute after start.
func pullEvent(key gatekeeper.PullKey, delivery, sha string, minute int) gatekeeper.Event {
	at := start.Add(time.Duration(minute) * time.Minute)
	return gatekeeper.Event{
		Delivery: delivery,
		Name:     "pull_request.synchronize",
		Received: at,
		Key:      key,
		SHA:      sha,
		PullRequest: &gatekeeper.PullRequest{
			Key: key, Title: "Release", Author: "release-bot", State: "open",
			HeadRef: "staging", HeadSHA: sha, BaseRef: "master",
			Labels: []string{"release"}, UpdatedAt: at,
		},
	}
}

// applying returns a Record closure that folds e into the evidence, the
// way the Service does.
func applying(e gatekeeper.Event) func(*gatekeeper.Evidence) {
	return func(ev *gatekeeper.Evidence) { ev.Apply(e) }
}

func record(t *testing.T, s gatekeeper.Store, delivery string, e gatekeeper.Event, keys ...gatekeeper.PullKey) {
	t.Helper()
	if err := s.Record(context.Background(), delivery, keys, applying(e)); err != nil {
		t.Fatalf("Record(%q, %v): %v", delivery, keys, err)
	}
}

func evidence(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey) *gatekeeper.Evidence {
	t.Helper()
	ev, err := s.Evidence(context.Background(), key)
	if err != nil {
		t.Fatalf("Evidence(%s): %v", key, err)
	}
	return ev
}

func generation(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey) (uint64, bool) {
	t.Helper()
	gen, ok, err := s.Generation(context.Background(), key)
	if err != nil {
		t.Fatalf("Generation(%s): %v", key, err)
	}
	return gen, ok
}

func queued(t *testing.T, s gatekeeper.Store) []gatekeeper.QueueItem {
	t.Helper()
	items, err := s.Queued(context.Background())
	if err != nil {
		t.Fatalf("Queued: %v", err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key.String() < items[j].Key.String() })
	return items
}

func sortKeys(keys []gatekeeper.PullKey) []gatekeeper.PullKey {
	out := append([]gatekeeper.PullKey{}, keys...)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// reviewIDs lists the review ids in the evidence, sorted.
func reviewIDs(ev *gatekeeper.Evidence) []int64 {
	ids := []int64{}
	for _, r := range ev.Reviews {
		ids = append(ids, r.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// logDeliveries counts the evidence log entries per delivery id: Apply adds
// one per application, so a count above one means an event was applied twice.
func logDeliveries(ev *gatekeeper.Evidence) map[string]int {
	n := map[string]int{}
	for _, l := range ev.Log {
		n[l.Delivery]++
	}
	return n
}

func testRecordCreates(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	e := reviewEvent(pr1, "d-1", 1)
	record(t, s, "d-1", e, pr1)

	ev := evidence(t, s, pr1)
	if ev.Key != pr1 {
		t.Errorf("Evidence(%s).Key = %v", pr1, ev.Key)
	}
	want := []gatekeeper.Review{*e.Review}
	want[0].State = "APPROVED"
	if diff := cmp.Diff(want, ev.Reviews); diff != "" {
		t.Errorf("reviews (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"d-1": 1}, logDeliveries(ev)); diff != "" {
		t.Errorf("log deliveries (-want +got):\n%s", diff)
	}
	if ev.Version == 0 {
		t.Error("Version is 0 after Record")
	}
	gen, ok := generation(t, s, pr1)
	if !ok {
		t.Fatalf("Generation(%s): not queued after Record", pr1)
	}
	if diff := cmp.Diff([]gatekeeper.QueueItem{{Key: pr1, Generation: gen}}, queued(t, s)); diff != "" {
		t.Errorf("Queued (-want +got):\n%s", diff)
	}
	pulls, err := s.Pulls(ctx)
	if err != nil {
		t.Fatalf("Pulls: %v", err)
	}
	if diff := cmp.Diff([]gatekeeper.PullKey{pr1}, pulls); diff != "" {
		t.Errorf("Pulls (-want +got):\n%s", diff)
	}
}

func testRecordEveryKey(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	// A status event names a sha that two pull requests share.
	e := gatekeeper.Event{
		Delivery: "d-status", Name: "status", Received: start,
		SHA: "2222222222222222222222222222222222222222",
		Check: &gatekeeper.Check{
			Name: "ci/jenkins", SHA: "2222222222222222222222222222222222222222",
			Kind: "status", State: "success", UpdatedAt: start,
		},
	}
	record(t, s, "d-status", e, pr1, pr2)

	var gens []gatekeeper.QueueItem
	for _, key := range []gatekeeper.PullKey{pr1, pr2} {
		ev := evidence(t, s, key)
		if diff := cmp.Diff([]gatekeeper.Check{*e.Check}, ev.Checks); diff != "" {
			t.Errorf("checks of %s (-want +got):\n%s", key, diff)
		}
		if ev.Key != key {
			t.Errorf("Evidence(%s).Key = %v", key, ev.Key)
		}
		gen, ok := generation(t, s, key)
		if !ok {
			t.Errorf("Generation(%s): not queued", key)
		}
		gens = append(gens, gatekeeper.QueueItem{Key: key, Generation: gen})
	}
	if diff := cmp.Diff(gens, queued(t, s)); diff != "" {
		t.Errorf("Queued (-want +got):\n%s", diff)
	}
	if _, err := s.Evidence(context.Background(), pr3); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Evidence(%s) of a key not recorded: err = %v, want ErrNotFound", pr3, err)
	}
}

func testDuplicate(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	record(t, s, "d-1", reviewEvent(pr1, "d-1", 1), pr1)
	before := evidence(t, s, pr1)
	genBefore, _ := generation(t, s, pr1)

	// The redelivery carries a different event and names another pull
	// request too: none of it may land.
	err := s.Record(ctx, "d-1", []gatekeeper.PullKey{pr1, pr2}, applying(reviewEvent(pr1, "d-1", 2)))
	if !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Fatalf("second Record(d-1): err = %v, want ErrDuplicate", err)
	}
	if diff := cmp.Diff(before, evidence(t, s, pr1)); diff != "" {
		t.Errorf("evidence changed by a duplicate (-before +after):\n%s", diff)
	}
	if gen, ok := generation(t, s, pr1); !ok || gen != genBefore {
		t.Errorf("Generation(%s) after duplicate = %d, %t; want %d, true", pr1, gen, ok, genBefore)
	}
	if _, err := s.Evidence(ctx, pr2); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Evidence(%s) after a duplicate naming it: err = %v, want ErrNotFound", pr2, err)
	}
	if _, ok := generation(t, s, pr2); ok {
		t.Errorf("%s queued by a duplicate", pr2)
	}
}

func testEmptyDelivery(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	record(t, s, "", reviewEvent(pr1, "", 1), pr1)
	v1 := evidence(t, s, pr1).Version
	record(t, s, "", reviewEvent(pr1, "", 2), pr1)
	ev := evidence(t, s, pr1)
	if diff := cmp.Diff([]int64{1, 2}, reviewIDs(ev)); diff != "" {
		t.Errorf("review ids (-want +got):\n%s", diff)
	}
	if ev.Version <= v1 {
		t.Errorf("Version = %d after the second Record, want above %d", ev.Version, v1)
	}
}

func testUpdateMissing(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	_, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) {
		ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: start}}
	})
	if !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Fatalf("Update(%s) of a missing key: err = %v, want ErrNotFound", pr1, err)
	}
	if _, err := s.Evidence(ctx, pr1); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Evidence(%s) after a failed Update: err = %v, want ErrNotFound", pr1, err)
	}
}

func testUpdateReturns(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	record(t, s, "d-1", reviewEvent(pr1, "d-1", 1), pr1)
	before := evidence(t, s, pr1)
	gen, _ := generation(t, s, pr1)

	published := &gatekeeper.PublishedStatus{
		SHA: "1111111111111111111111111111111111111111", State: gatekeeper.Pending,
		Description: "Waiting for: build", TargetURL: "https://gate.example/pr/101", At: start,
	}
	got, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) {
		ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: start}}
		ev.Published = published
	})
	if err != nil {
		t.Fatalf("Update(%s): %v", pr1, err)
	}
	if diff := cmp.Diff(published, got.Published); diff != "" {
		t.Errorf("Update returned Published (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before.Reviews, got.Reviews); diff != "" {
		t.Errorf("Update lost reviews (-want +got):\n%s", diff)
	}
	if got.Version <= before.Version {
		t.Errorf("Update returned Version %d, want above %d", got.Version, before.Version)
	}
	if diff := cmp.Diff(got, evidence(t, s, pr1)); diff != "" {
		t.Errorf("Evidence after Update differs from what Update returned (-returned +loaded):\n%s", diff)
	}
	// Update does not queue: the generation stays, and once Done, the pull
	// request stays off the queue.
	if g, ok := generation(t, s, pr1); !ok || g != gen {
		t.Errorf("Generation(%s) after Update = %d, %t; want %d, true", pr1, g, ok, gen)
	}
	if ok, err := s.Done(ctx, pr1, gen); err != nil || !ok {
		t.Fatalf("Done(%s, %d) = %t, %v; want true", pr1, gen, ok, err)
	}
	if _, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) { ev.Published = nil }); err != nil {
		t.Fatalf("Update(%s): %v", pr1, err)
	}
	if items := queued(t, s); len(items) != 0 {
		t.Errorf("Queued after Done and Update = %v, want empty", items)
	}
}

func testVersion(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	writes := []struct {
		name  string
		write func() (uint64, error)
	}{
		{"first Record", func() (uint64, error) {
			err := s.Record(ctx, "d-1", []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, "d-1", 1)))
			return evidence(t, s, pr1).Version, err
		}},
		{"second Record", func() (uint64, error) {
			err := s.Record(ctx, "d-2", []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, "d-2", 2)))
			return evidence(t, s, pr1).Version, err
		}},
		{"Record without delivery", func() (uint64, error) {
			err := s.Record(ctx, "", []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, "", 3)))
			return evidence(t, s, pr1).Version, err
		}},
		{"Update", func() (uint64, error) {
			ev, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) {
				ev.Sources = map[string]gatekeeper.SourceStatus{"jenkins": {OK: true, CheckedAt: start}}
			})
			if err != nil {
				return 0, err
			}
			return ev.Version, nil
		}},
		{"Update changing nothing", func() (uint64, error) {
			ev, err := s.Update(ctx, pr1, func(*gatekeeper.Evidence) {})
			if err != nil {
				return 0, err
			}
			return ev.Version, nil
		}},
		{"Record a third time", func() (uint64, error) {
			err := s.Record(ctx, "d-3", []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, "d-3", 4)))
			return evidence(t, s, pr1).Version, err
		}},
	}
	var last uint64
	for _, w := range writes {
		v, err := w.write()
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if v <= last {
			t.Errorf("%s: Version = %d, want above %d", w.name, v, last)
		}
		last = v
	}
}

func testEvidenceMissing(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	if _, err := s.Evidence(context.Background(), pr1); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Evidence(%s) in an empty store: err = %v, want ErrNotFound", pr1, err)
	}
}

// testEvidenceIsACopy: the caller may change what Evidence returns freely
// (see Evidence.Clone); only Update writes.
func testEvidenceCopy(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	record(t, s, "d-1", pullEvent(pr1, "d-1", "aaaa", 0), pr1)
	want := evidence(t, s, pr1)
	ev := evidence(t, s, pr1)
	ev.PR.Labels[0] = "changed"
	ev.Heads[0].SHA = "changed"
	ev.Version += 10
	if diff := cmp.Diff(want, evidence(t, s, pr1)); diff != "" {
		t.Errorf("changing returned evidence changed the store (-want +got):\n%s", diff)
	}
}

func testPulls(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	got, err := s.Pulls(ctx)
	if err != nil {
		t.Fatalf("Pulls in an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Pulls in an empty store = %v, want none", got)
	}
	record(t, s, "d-1", reviewEvent(pr2, "d-1", 1), pr2)
	record(t, s, "d-2", reviewEvent(pr1, "d-2", 2), pr1, pr3)
	record(t, s, "d-3", reviewEvent(pr1, "d-3", 3), pr1)
	got, err = s.Pulls(ctx)
	if err != nil {
		t.Fatalf("Pulls: %v", err)
	}
	if diff := cmp.Diff(sortKeys([]gatekeeper.PullKey{pr1, pr2, pr3}), sortKeys(got)); diff != "" {
		t.Errorf("Pulls (-want +got):\n%s", diff)
	}
}

func testPullsIndexed(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	const sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	other := gatekeeper.PullKey{Owner: "Acme", Repo: "Shop", Number: 103} // another case
	// pr1 into master, then its base edited to release (through Update);
	// pr2 into master of repository id 42; pr3 (billing) has no snapshot
	// yet; other into master, keyed in another case.
	record(t, s, "d-1", pullEvent(pr1, "d-1", sha, 1), pr1)
	moved := pullEvent(pr1, "", sha, 2)
	moved.PullRequest.BaseRef = "release"
	if _, err := s.Update(ctx, pr1, applying(moved)); err != nil {
		t.Fatalf("Update(%s): %v", pr1, err)
	}
	withID := pullEvent(pr2, "d-2", sha, 1)
	withID.PullRequest.RepoID = 42
	record(t, s, "d-2", withID, pr2)
	record(t, s, "d-3", reviewEvent(pr3, "d-3", 1), pr3)
	record(t, s, "d-4", pullEvent(other, "d-4", sha, 1), other)

	tests := []struct {
		name  string
		terms []string
		want  []gatekeeper.PullKey
	}{
		{name: "repository, any case", terms: []string{gatekeeper.RepoTerm("ACME", "shop")}, want: []gatekeeper.PullKey{pr1, pr2, other}},
		{name: "repository without a snapshot", terms: []string{gatekeeper.RepoTerm("acme", "billing")}, want: []gatekeeper.PullKey{pr3}},
		// pr1 stays under its old base: the index is a superset.
		{name: "base by name", terms: gatekeeper.BaseTerms(0, "acme", "shop", "master"), want: []gatekeeper.PullKey{pr1, pr2, other}},
		{name: "edited base", terms: gatekeeper.BaseTerms(0, "acme", "shop", "release"), want: []gatekeeper.PullKey{pr1}},
		// A renamed repository: its new name is unknown to the keys, its id is not.
		{name: "base by id", terms: gatekeeper.BaseTerms(42, "acme", "shop-renamed", "master"), want: []gatekeeper.PullKey{pr2}},
		{name: "id and name, once each", terms: gatekeeper.BaseTerms(42, "acme", "shop", "master"), want: []gatekeeper.PullKey{pr1, pr2, other}},
		{name: "base is not a prefix", terms: gatekeeper.BaseTerms(0, "acme", "shop", "mast"), want: []gatekeeper.PullKey{}},
		{name: "repository is not a prefix", terms: []string{gatekeeper.RepoTerm("acme", "sho")}, want: []gatekeeper.PullKey{}},
		{name: "no terms", want: []gatekeeper.PullKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PullsIndexed(ctx, tt.terms...)
			if err != nil {
				t.Fatalf("PullsIndexed(%q): %v", tt.terms, err)
			}
			if got == nil {
				got = []gatekeeper.PullKey{}
			}
			if diff := cmp.Diff(sortKeys(tt.want), got); diff != "" {
				t.Errorf("PullsIndexed(%q) (-want +got), in key order:\n%s", tt.terms, diff)
			}
		})
	}
}

func testPullsForSHA(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	const (
		shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		shaC = "cccccccccccccccccccccccccccccccccccccccc"
		shaD = "dddddddddddddddddddddddddddddddddddddddd"
	)
	// pr1 goes A → B → A (a force-push back) → C, the last through Update
	// (the GitHub source filling in a newer snapshot); pr2 starts at A too.
	record(t, s, "d-1", pullEvent(pr1, "d-1", shaA, 1), pr1)
	record(t, s, "d-2", pullEvent(pr1, "d-2", shaB, 2), pr1)
	record(t, s, "d-3", pullEvent(pr1, "d-3", shaA, 3), pr1)
	record(t, s, "d-4", pullEvent(pr2, "d-4", shaA, 1), pr2)
	if _, err := s.Update(ctx, pr1, applying(pullEvent(pr1, "", shaC, 4))); err != nil {
		t.Fatalf("Update(%s): %v", pr1, err)
	}
	// A snapshot without a head sha indexes nothing new.
	record(t, s, "d-5", reviewEvent(pr3, "d-5", 1), pr3)

	tests := []struct {
		name string
		sha  string
		want []gatekeeper.PullKey
	}{
		{name: "head of two pulls, twice of one", sha: shaA, want: []gatekeeper.PullKey{pr1, pr2}},
		{name: "earlier head", sha: shaB, want: []gatekeeper.PullKey{pr1}},
		{name: "head written by Update", sha: shaC, want: []gatekeeper.PullKey{pr1}},
		{name: "never a head", sha: shaD, want: []gatekeeper.PullKey{}},
		{name: "prefix of a head", sha: shaA[:7], want: []gatekeeper.PullKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PullsForSHA(ctx, tt.sha)
			if err != nil {
				t.Fatalf("PullsForSHA(%s): %v", tt.sha, err)
			}
			if diff := cmp.Diff(sortKeys(tt.want), sortKeys(got)); diff != "" {
				t.Errorf("PullsForSHA(%s) (-want +got):\n%s", tt.sha, diff)
			}
		})
	}
}

func testQueue(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	if items := queued(t, s); len(items) != 0 {
		t.Errorf("Queued in an empty store = %v, want empty", items)
	}
	if _, ok := generation(t, s, pr1); ok {
		t.Errorf("Generation(%s) in an empty store: queued", pr1)
	}
	if ok, err := s.Done(ctx, pr1, 1); err != nil || ok {
		t.Errorf("Done(%s) of a key not queued = %t, %v; want false, nil", pr1, ok, err)
	}

	if err := s.Enqueue(ctx, pr1); err != nil {
		t.Fatalf("Enqueue(%s): %v", pr1, err)
	}
	gen1, ok := generation(t, s, pr1)
	if !ok {
		t.Fatalf("Generation(%s) after Enqueue: not queued", pr1)
	}
	if err := s.Enqueue(ctx, pr1); err != nil {
		t.Fatalf("Enqueue(%s): %v", pr1, err)
	}
	gen2, _ := generation(t, s, pr1)
	if gen2 <= gen1 {
		t.Errorf("second Enqueue: generation %d, want above %d", gen2, gen1)
	}
	if err := s.Enqueue(ctx, pr2); err != nil {
		t.Fatalf("Enqueue(%s): %v", pr2, err)
	}
	genPR2, _ := generation(t, s, pr2)
	want := []gatekeeper.QueueItem{{Key: pr1, Generation: gen2}, {Key: pr2, Generation: genPR2}}
	if diff := cmp.Diff(want, queued(t, s)); diff != "" {
		t.Errorf("Queued (-want +got):\n%s", diff)
	}

	// A worker that evaluated generation 1 must leave the newer one queued.
	if ok, err := s.Done(ctx, pr1, gen1); err != nil || ok {
		t.Errorf("Done(%s, stale %d) = %t, %v; want false, nil", pr1, gen1, ok, err)
	}
	if diff := cmp.Diff(want, queued(t, s)); diff != "" {
		t.Errorf("Queued after a stale Done (-want +got):\n%s", diff)
	}
	if ok, err := s.Done(ctx, pr1, gen2); err != nil || !ok {
		t.Errorf("Done(%s, current %d) = %t, %v; want true, nil", pr1, gen2, ok, err)
	}
	if _, ok := generation(t, s, pr1); ok {
		t.Errorf("Generation(%s) after Done: still queued", pr1)
	}
	if diff := cmp.Diff(want[1:], queued(t, s)); diff != "" {
		t.Errorf("Queued after Done (-want +got):\n%s", diff)
	}
	if ok, err := s.Done(ctx, pr1, gen2); err != nil || ok {
		t.Errorf("Done(%s, %d) twice = %t, %v; want false, nil", pr1, gen2, ok, err)
	}
}

func testCoalesce(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	record(t, s, "d-1", reviewEvent(pr1, "d-1", 1), pr1)
	first, _ := generation(t, s, pr1)
	record(t, s, "d-2", reviewEvent(pr1, "d-2", 2), pr1)
	record(t, s, "d-3", reviewEvent(pr1, "d-3", 3), pr1)
	latest, ok := generation(t, s, pr1)
	if !ok || latest <= first {
		t.Fatalf("Generation(%s) after three Records = %d, %t; want above %d", pr1, latest, ok, first)
	}
	if diff := cmp.Diff([]gatekeeper.QueueItem{{Key: pr1, Generation: latest}}, queued(t, s)); diff != "" {
		t.Errorf("Queued after three Records (-want +got):\n%s", diff)
	}
	if ok, err := s.Done(ctx, pr1, first); err != nil || ok {
		t.Errorf("Done(%s, first generation %d) = %t, %v; want false, nil", pr1, first, ok, err)
	}
	if ok, err := s.Done(ctx, pr1, latest); err != nil || !ok {
		t.Errorf("Done(%s, latest generation %d) = %t, %v; want true, nil", pr1, latest, ok, err)
	}
	if items := queued(t, s); len(items) != 0 {
		t.Errorf("Queued after one Done = %v, want empty", items)
	}
}

// decision is the n-th decision record for key, with a policy input that
// survives a JSON round trip unchanged.
func decision(key gatekeeper.PullKey, n int) gatekeeper.DecisionRecord {
	return gatekeeper.DecisionRecord{
		Key:     key,
		HeadSHA: fmt.Sprintf("%040d", n),
		Decision: gatekeeper.Decision{
			State: gatekeeper.Pending, Reasons: []string{}, Waiting: []string{"build"},
			Passes: []string{"check ci/lint passed"}, PolicyRevision: "rev-1",
		},
		Description:     "Waiting for: build",
		EvaluatedAt:     start.Add(time.Duration(n) * time.Minute),
		EvidenceVersion: uint64(n),
		Input: &gatekeeper.Input{
			Version:     gatekeeper.InputVersion,
			PullRequest: &gatekeeper.InputPull{Owner: key.Owner, Repo: key.Repo, Number: key.Number, Labels: []string{}},
			Reviews:     []gatekeeper.InputReview{{User: "alice", State: "APPROVED"}},
		},
		Duration: time.Duration(n) * time.Millisecond,
	}
}

func addDecisions(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := s.AddDecision(context.Background(), decision(key, n)); err != nil {
			t.Fatalf("AddDecision(%s, %d): %v", key, n, err)
		}
	}
}

func testDecisions(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	addDecisions(t, s, pr1, 1, 3)
	addDecisions(t, s, pr2, 1, 1)
	tests := []struct {
		name  string
		key   gatekeeper.PullKey
		limit int
		want  []gatekeeper.DecisionRecord
	}{
		{name: "all, newest first", key: pr1, limit: 10,
			want: []gatekeeper.DecisionRecord{decision(pr1, 3), decision(pr1, 2), decision(pr1, 1)}},
		{name: "limit exactly", key: pr1, limit: 3,
			want: []gatekeeper.DecisionRecord{decision(pr1, 3), decision(pr1, 2), decision(pr1, 1)}},
		{name: "limit honoured", key: pr1, limit: 2,
			want: []gatekeeper.DecisionRecord{decision(pr1, 3), decision(pr1, 2)}},
		{name: "limit one", key: pr1, limit: 1,
			want: []gatekeeper.DecisionRecord{decision(pr1, 3)}},
		{name: "other pull", key: pr2, limit: 10,
			want: []gatekeeper.DecisionRecord{decision(pr2, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Decisions(context.Background(), tt.key, tt.limit)
			if err != nil {
				t.Fatalf("Decisions(%s, %d): %v", tt.key, tt.limit, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decisions(%s, %d) (-want +got):\n%s", tt.key, tt.limit, diff)
			}
		})
	}
}

func testDecisionsTrim(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	const extra = 5
	addDecisions(t, s, pr1, 1, gatekeeper.MaxDecisions+extra)
	got, err := s.Decisions(context.Background(), pr1, gatekeeper.MaxDecisions+100)
	if err != nil {
		t.Fatalf("Decisions(%s): %v", pr1, err)
	}
	if len(got) != gatekeeper.MaxDecisions {
		t.Fatalf("Decisions(%s) kept %d records, want MaxDecisions = %d", pr1, len(got), gatekeeper.MaxDecisions)
	}
	// Newest first, and the oldest kept is the first after those dropped.
	if diff := cmp.Diff(decision(pr1, gatekeeper.MaxDecisions+extra), got[0]); diff != "" {
		t.Errorf("newest record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(decision(pr1, extra+1), got[len(got)-1]); diff != "" {
		t.Errorf("oldest record kept (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].EvidenceVersion != got[i-1].EvidenceVersion-1 {
			t.Fatalf("record %d has evidence version %d after %d: not newest first without gaps",
				i, got[i].EvidenceVersion, got[i-1].EvidenceVersion)
		}
	}
}

func testForget(t *testing.T, open Opener) {
	s, clock := openStore(t, open)
	ctx := context.Background()
	record(t, s, "d-old-1", reviewEvent(pr1, "d-old-1", 1), pr1)
	record(t, s, "", reviewEvent(pr1, "", 2), pr1) // no id: nothing to forget
	clock.Advance(time.Minute)
	record(t, s, "d-old-2", reviewEvent(pr1, "d-old-2", 3), pr1)
	clock.Advance(time.Minute)
	cut := clock.Now()
	record(t, s, "d-at-cut", reviewEvent(pr1, "d-at-cut", 4), pr1) // not before cut: kept
	clock.Advance(time.Minute)
	record(t, s, "d-new", reviewEvent(pr1, "d-new", 5), pr1)

	n, err := s.ForgetDeliveries(ctx, cut)
	if err != nil {
		t.Fatalf("ForgetDeliveries(%s): %v", cut, err)
	}
	if n != 2 {
		t.Errorf("ForgetDeliveries(%s) = %d, want 2", cut, n)
	}
	tests := []struct {
		name     string
		delivery string
		wantDup  bool
	}{
		{name: "forgotten", delivery: "d-old-1", wantDup: false},
		{name: "forgotten too", delivery: "d-old-2", wantDup: false},
		{name: "recorded at the cut", delivery: "d-at-cut", wantDup: true},
		{name: "recorded after the cut", delivery: "d-new", wantDup: true},
	}
	// HasDelivery (the delivery sweeper asks) agrees with Record's dedupe.
	for _, tt := range append(tests, struct {
		name     string
		delivery string
		wantDup  bool
	}{name: "never recorded", delivery: "d-never", wantDup: false}) {
		if has, err := s.HasDelivery(ctx, tt.delivery); err != nil || has != tt.wantDup {
			t.Errorf("%s: HasDelivery(%s) = %t, %v; want %t", tt.name, tt.delivery, has, err, tt.wantDup)
		}
	}
	for _, tt := range tests {
		err := s.Record(ctx, tt.delivery, []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, tt.delivery, 9)))
		if got := errors.Is(err, gatekeeper.ErrDuplicate); got != tt.wantDup || (err != nil && !got) {
			t.Errorf("%s: Record(%s) again: err = %v, want duplicate %t", tt.name, tt.delivery, err, tt.wantDup)
		}
	}
	// The ids recorded again now carry the current time, after the cut.
	if n, err := s.ForgetDeliveries(ctx, cut); err != nil || n != 0 {
		t.Errorf("ForgetDeliveries(%s) again = %d, %v; want 0, nil", cut, n, err)
	}
	if n, err := s.ForgetDeliveries(ctx, clock.Now().Add(time.Nanosecond)); err != nil || n != 4 {
		t.Errorf("ForgetDeliveries(now) = %d, %v; want 4, nil", n, err)
	}
}

func testPing(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// concurrency is how many goroutines the concurrency tests start; enough to
// form groups in a store that batches its commits.
const concurrency = 32

func testConcurrentRecords(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for i := 1; i <= concurrency; i++ {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			d := fmt.Sprintf("d-%d", id)
			// Every other Record also names pr2, so that transactions
			// touching different key sets interleave.
			keys := []gatekeeper.PullKey{pr1}
			if id%2 == 0 {
				keys = append(keys, pr2)
			}
			errs <- s.Record(ctx, d, keys, applying(reviewEvent(pr1, d, id)))
		}(int64(i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Record: %v", err)
		}
	}
	wantIDs := []int64{}
	wantLog := map[string]int{}
	wantEven := map[string]int{}
	for i := 1; i <= concurrency; i++ {
		wantIDs = append(wantIDs, int64(i))
		wantLog[fmt.Sprintf("d-%d", i)] = 1
		if i%2 == 0 {
			wantEven[fmt.Sprintf("d-%d", i)] = 1
		}
	}
	ev := evidence(t, s, pr1)
	if diff := cmp.Diff(wantIDs, reviewIDs(ev)); diff != "" {
		t.Errorf("review ids of %s (-want +got):\n%s", pr1, diff)
	}
	if diff := cmp.Diff(wantLog, logDeliveries(ev)); diff != "" {
		t.Errorf("times each delivery was applied to %s (-want +got):\n%s", pr1, diff)
	}
	if diff := cmp.Diff(wantEven, logDeliveries(evidence(t, s, pr2))); diff != "" {
		t.Errorf("times each delivery was applied to %s (-want +got):\n%s", pr2, diff)
	}
	if _, ok := generation(t, s, pr1); !ok {
		t.Errorf("%s not queued after concurrent Records", pr1)
	}
}

func testConcurrentDuplicates(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for i := 1; i <= concurrency; i++ {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			errs <- s.Record(ctx, "d-same", []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, "d-same", id)))
		}(int64(i))
	}
	wg.Wait()
	close(errs)
	var accepted, dups int
	for err := range errs {
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, gatekeeper.ErrDuplicate):
			dups++
		default:
			t.Errorf("concurrent Record of one delivery: %v", err)
		}
	}
	if accepted != 1 || dups != concurrency-1 {
		t.Errorf("concurrent Records of one delivery: %d accepted, %d duplicates; want 1 and %d", accepted, dups, concurrency-1)
	}
	ev := evidence(t, s, pr1)
	if len(ev.Reviews) != 1 {
		t.Errorf("%d reviews from one delivery, want 1", len(ev.Reviews))
	}
	if diff := cmp.Diff(map[string]int{"d-same": 1}, logDeliveries(ev)); diff != "" {
		t.Errorf("times the delivery was applied (-want +got):\n%s", diff)
	}
}

// testConcurrentRecordsAndUpdates: Records (the webhooks) and Updates (the
// workers) racing on one pull request lose no change of either: a store
// that reads, changes and writes without holding off the other writers
// drops some.
func testConcurrentRecordsAndUpdates(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	record(t, s, "d-0", reviewEvent(pr1, "d-0", 1000), pr1)
	var wg sync.WaitGroup
	errs := make(chan error, 2*concurrency)
	for i := 1; i <= concurrency; i++ {
		wg.Add(2)
		go func(id int64) {
			defer wg.Done()
			d := fmt.Sprintf("d-%d", id)
			errs <- s.Record(ctx, d, []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, d, id)))
		}(int64(i))
		go func(id int) {
			defer wg.Done()
			name := fmt.Sprintf("source-%02d", id)
			_, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) {
				if ev.Sources == nil {
					ev.Sources = map[string]gatekeeper.SourceStatus{}
				}
				ev.Sources[name] = gatekeeper.SourceStatus{OK: true, CheckedAt: start}
			})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent write: %v", err)
		}
	}
	ev := evidence(t, s, pr1)
	wantIDs := []int64{}
	wantSources := []string{}
	for i := 1; i <= concurrency; i++ {
		wantIDs = append(wantIDs, int64(i))
		wantSources = append(wantSources, fmt.Sprintf("source-%02d", i))
	}
	wantIDs = append(wantIDs, 1000)
	if diff := cmp.Diff(wantIDs, reviewIDs(ev)); diff != "" {
		t.Errorf("reviews after racing Updates (-want +got):\n%s", diff)
	}
	gotSources := []string{}
	for name := range ev.Sources {
		gotSources = append(gotSources, name)
	}
	sort.Strings(gotSources)
	if diff := cmp.Diff(wantSources, gotSources); diff != "" {
		t.Errorf("sources after racing Records (-want +got):\n%s", diff)
	}
	if want := uint64(1 + 2*concurrency); ev.Version != want {
		t.Errorf("Version = %d after %d writes, want %d", ev.Version, want, want)
	}
}

func testReopen(t *testing.T, open Opener, reopen Reopener) {
	ctx := context.Background()
	clock := NewClock(start)
	s := open(t, clock)
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	const sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	record(t, s, "d-1", pullEvent(pr1, "d-1", sha, 1), pr1)
	record(t, s, "d-2", reviewEvent(pr2, "d-2", 2), pr2)
	gen2, _ := generation(t, s, pr2)
	if ok, err := s.Done(ctx, pr2, gen2); err != nil || !ok {
		t.Fatalf("Done(%s, %d) = %t, %v; want true", pr2, gen2, ok, err)
	}
	addDecisions(t, s, pr1, 1, 2)
	// A full log, written in every way a store writes, read back cold.
	wantLogged := fillLog(t, s, pr3, "log")
	if gen3, ok := generation(t, s, pr3); !ok {
		t.Fatalf("%s not queued after its Records", pr3)
	} else if ok, err := s.Done(ctx, pr3, gen3); err != nil || !ok {
		t.Fatalf("Done(%s, %d) = %t, %v; want true", pr3, gen3, ok, err)
	}
	wantEv := evidence(t, s, pr1)
	wantQueue := queued(t, s)
	if len(wantQueue) != 1 || wantQueue[0].Key != pr1 {
		t.Fatalf("Queued before closing = %v, want only %s", wantQueue, pr1)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true

	s = reopen(t, s, clock)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing reopened store: %v", err)
		}
	})
	if diff := cmp.Diff(wantEv, evidence(t, s, pr1)); diff != "" {
		t.Errorf("evidence after reopening (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLogged, evidence(t, s, pr3)); diff != "" {
		t.Errorf("evidence with a full log after reopening (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantQueue, queued(t, s)); diff != "" {
		t.Errorf("queue after reopening (-want +got):\n%s", diff)
	}
	got, err := s.PullsForSHA(ctx, sha)
	if err != nil {
		t.Fatalf("PullsForSHA after reopening: %v", err)
	}
	if diff := cmp.Diff([]gatekeeper.PullKey{pr1}, got); diff != "" {
		t.Errorf("PullsForSHA after reopening (-want +got):\n%s", diff)
	}
	got, err = s.PullsIndexed(ctx, gatekeeper.BaseTerms(0, pr1.Owner, pr1.Repo, "master")...)
	if err != nil {
		t.Fatalf("PullsIndexed after reopening: %v", err)
	}
	if diff := cmp.Diff([]gatekeeper.PullKey{pr1}, got); diff != "" {
		t.Errorf("PullsIndexed after reopening (-want +got):\n%s", diff)
	}
	decs, err := s.Decisions(ctx, pr1, 10)
	if err != nil {
		t.Fatalf("Decisions after reopening: %v", err)
	}
	if diff := cmp.Diff([]gatekeeper.DecisionRecord{decision(pr1, 2), decision(pr1, 1)}, decs); diff != "" {
		t.Errorf("Decisions after reopening (-want +got):\n%s", diff)
	}
	for _, d := range []string{"d-1", "d-2"} {
		err := s.Record(ctx, d, []gatekeeper.PullKey{pr1}, applying(reviewEvent(pr1, d, 3)))
		if !errors.Is(err, gatekeeper.ErrDuplicate) {
			t.Errorf("Record(%s) after reopening: err = %v, want ErrDuplicate", d, err)
		}
	}
	if n, err := s.ForgetDeliveries(ctx, clock.Now().Add(time.Nanosecond)); err != nil || n != 2+gatekeeper.MaxLog+30 {
		t.Errorf("ForgetDeliveries after reopening = %d, %v; want %d, nil", n, err, 2+gatekeeper.MaxLog+30)
	}
	// The generation keeps growing across a restart.
	gen1 := wantQueue[0].Generation
	if err := s.Enqueue(ctx, pr1); err != nil {
		t.Fatalf("Enqueue after reopening: %v", err)
	}
	if gen, ok := generation(t, s, pr1); !ok || gen <= gen1 {
		t.Errorf("Generation(%s) after Enqueue on the reopened store = %d, %t; want above %d", pr1, gen, ok, gen1)
	}
}
