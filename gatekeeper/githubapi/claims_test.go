package githubapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// freshEvidence is commentEvidence with the pull request, its reviews and
// its checks fetched at testEpoch: Gather fetches nothing but the claims.
func freshEvidence(cs ...listedComment) *gatekeeper.Evidence {
	ev := commentEvidence(nil, cs...)
	ev.Sources = map[string]gatekeeper.SourceStatus{SourceName: {OK: true, CheckedAt: testEpoch}}
	ev.Log = []gatekeeper.LogEntry{
		{Event: EventPullRequest, SHA: ev.PR.HeadSHA, At: testEpoch},
		{Event: EventChecks, SHA: ev.PR.HeadSHA, At: testEpoch},
	}
	return ev
}

// recordedReview is the first review of the recorded reviews list, as
// GET …/pulls/{n}/reviews/{id} answers it (the same schema).
func recordedReview(t *testing.T) (json.RawMessage, gatekeeper.Review) {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(readFixture(t, "rest/pulls.reviews.list.approved.json"), &list); err != nil || len(list) == 0 {
		t.Fatalf("reading the recorded reviews list: %v", err)
	}
	return list[0], fixtureRESTReview
}

// TestGatherConfirmsClaims: each approval and vote that only a webhook
// brought is read back from GitHub once, one call each; what GitHub shows
// is returned Confirmed, what it does not have or contradicts is returned
// Disputed, and a NOGO is not asked about (it only closes the gate).
func TestGatherConfirmsClaims(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	raw, real := recordedReview(t)
	gh.on("GET "+helloPath+"/reviews/"+strconv.FormatInt(real.ID, 10), jsonReply(http.StatusOK, string(raw)))
	// GitHub has lts-def's /go as claimed, and alice's comment says
	// something else than the claim.
	gh.on("GET /repos/Codertocat/Hello-World/issues/comments/1001", jsonReply(http.StatusOK, string(ltsGo.json(t))))
	other := aliceGo
	other.body = "looks fine to me"
	gh.on("GET /repos/Codertocat/Hello-World/issues/comments/1002", jsonReply(http.StatusOK, string(other.json(t))))

	forgedID := int64(208301199)
	ev := freshEvidence(ltsGo, aliceGo, bobNogo, deletedGo)
	for i := range ev.Comments {
		ev.Comments[i].Confirmed = false // all four only claimed
	}
	claimed := real
	claimed.State = "approved"
	forged := gatekeeper.Review{ID: forgedID, User: "qa-carol", State: "APPROVED", CommitID: ev.PR.HeadSHA, SubmittedAt: votedAt}
	ev.Reviews = []gatekeeper.Review{claimed, forged}
	s := newTestSource(t, gh, newFakeTime(), testRetry())

	got, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var asked []string
	for _, r := range gh.served() {
		asked = append(asked, r.Path)
	}
	// bob's NOGO is not asked about; the three others and two reviews are.
	if len(asked) != 5 {
		t.Errorf("asked %v, want the two reviews and three comments once each", asked)
	}
	for _, p := range asked {
		if strings.HasSuffix(p, "/1003") {
			t.Errorf("asked GitHub about a NOGO: %s", p)
		}
	}
	for _, e := range got {
		ev.Apply(e)
	}
	state := map[string]string{}
	for _, r := range ev.Reviews {
		state["review "+strconv.FormatInt(r.ID, 10)] = claimState(r.Confirmed, r.Disputed)
	}
	for _, c := range ev.Comments {
		state["comment "+strconv.FormatInt(c.ID, 10)] = claimState(c.Confirmed, c.Disputed)
	}
	want := map[string]string{
		"review " + strconv.FormatInt(real.ID, 10):  "confirmed",
		"review " + strconv.FormatInt(forgedID, 10): "disputed",
		"comment 1001": "confirmed",
		"comment 1002": "disputed", // GitHub's body says otherwise
		"comment 1003": "claimed",  // a NOGO counts without asking
		"comment 1005": "disputed", // GitHub has no such comment
	}
	for k, w := range want {
		if state[k] != w {
			t.Errorf("%s is %s, want %s", k, state[k], w)
		}
	}
	counted := ev.Counted(true)
	if len(counted.Reviews) != 1 || counted.Reviews[0].ID != real.ID {
		t.Errorf("reviews counted %+v, want only the confirmed one", counted.Reviews)
	}

	// A second Gather asks about nothing: every claim was settled.
	before := len(gh.served())
	if _, err := s.Gather(context.Background(), ev); err != nil {
		t.Fatalf("second Gather: %v", err)
	}
	if n := len(gh.served()) - before; n != 0 {
		t.Errorf("second Gather made %d calls, want none", n)
	}
}

// TestGatherLeavesYoungClaimsAwaited: a claim GitHub does not have yet
// that is younger than claimGrace may be a lagging replica: it is neither
// confirmed nor disputed, and asked about again at the next Gather.
func TestGatherLeavesYoungClaimsAwaited(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	ev := freshEvidence(justNow)
	ev.Comments[0].Confirmed = false
	s := newTestSource(t, gh, newFakeTime(), testRetry())
	for range 2 {
		got, err := s.Gather(context.Background(), ev)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("events %+v, want none for a young claim", got)
		}
	}
	if n := len(gh.served()); n != 2 {
		t.Errorf("%d calls, want one per Gather", n)
	}
	if !ev.Comments[0].Awaited() {
		t.Errorf("the young claim is no longer awaited: %+v", ev.Comments[0])
	}
}

func claimState(confirmed bool, disputed string) string {
	switch {
	case confirmed:
		return "confirmed"
	case disputed != "":
		return "disputed"
	}
	return "claimed"
}

// TestGatherConfirmsNogoDeletions: a webhook saying a NOGO's author deleted
// it is a claim like any other (anyone holding the webhook secret can sign
// one, or replay a genuine one): the NOGO stands until GitHub answers 404
// for the comment. When GitHub still has it, the deletion is disputed and
// the NOGO stays for good.
func TestGatherConfirmsNogoDeletions(t *testing.T) {
	t.Parallel()
	nogoPath := "GET /repos/Codertocat/Hello-World/issues/comments/1003"
	for _, tc := range []struct {
		name      string
		github    []reply // nil: GitHub has no such comment (404)
		wantStand bool
	}{
		{name: "forged: GitHub still has the NOGO", github: []reply{jsonReply(http.StatusOK, string(bobNogo.json(t)))}, wantStand: true},
		{name: "genuine: GitHub answers 404", wantStand: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			if tc.github != nil {
				gh.on(nogoPath, tc.github...)
			}
			ev := freshEvidence(bobNogo)
			ev.Comments[0].Confirmed = false // the NOGO came by webhook
			deletion := bobNogo.domain()
			deletion.Fetched, deletion.Confirmed = false, false
			deletion.Deleted, deletion.EditedBy = true, "bob"
			ev.Apply(gatekeeper.Event{Name: "issue_comment.deleted", Key: helloKey, Received: testEpoch.Add(-5 * time.Minute), Comment: &deletion})
			if n := len(ev.Counted(true).Nogos()); n != 1 {
				t.Fatalf("before GitHub is asked, %d NOGOs stand, want 1: a deletion claim must not drop a NOGO", n)
			}

			s := newTestSource(t, gh, newFakeTime(), testRetry())
			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			asked := 0
			for _, r := range gh.served() {
				if "GET "+r.Path == nogoPath {
					asked++
				}
			}
			if asked != 1 {
				t.Errorf("asked GitHub about the deleted NOGO %d times, want once", asked)
			}
			for _, e := range got {
				ev.Apply(e)
			}
			if stands := len(ev.Counted(true).Nogos()) == 1; stands != tc.wantStand {
				t.Errorf("NOGO stands: %v, want %v (comments %+v)", stands, tc.wantStand, ev.Comments)
			}
			// Settled either way: the next Gather asks nothing.
			before := len(gh.served())
			if _, err := s.Gather(context.Background(), ev); err != nil {
				t.Fatalf("second Gather: %v", err)
			}
			if n := len(gh.served()) - before; n != 0 {
				t.Errorf("second Gather made %d calls, want none", n)
			}
		})
	}
}

// TestGatherConfirmsNogoEdits: a webhook saying a NOGO's author edited it
// into something else (no command at all, or a /go) is a claim too: the
// NOGO stands until GitHub shows the edit, and stays when GitHub still has
// the NOGO.
func TestGatherConfirmsNogoEdits(t *testing.T) {
	t.Parallel()
	nogoPath := "GET /repos/Codertocat/Hello-World/issues/comments/1003"
	for _, tc := range []struct {
		name      string
		newBody   string // the edit the webhook claims
		github    string // the body GitHub has
		wantStand bool
	}{
		{name: "forged: no command, GitHub has the NOGO", newBody: "thanks all", github: bobNogo.body, wantStand: true},
		{name: "forged: a go, GitHub has the NOGO", newBody: "/go", github: bobNogo.body, wantStand: true},
		{name: "genuine: no command", newBody: "thanks all", github: "thanks all", wantStand: false},
		{name: "genuine: a go", newBody: "/go", github: "/go", wantStand: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			edited := bobNogo
			edited.body = tc.github
			raw := edited.json(t)
			if tc.github != bobNogo.body {
				// GitHub's copy of an edited comment says when.
				raw = patchJSON(t, raw, map[string]any{"updated_at": bobNogo.at.Add(time.Minute).UTC().Format(time.RFC3339)})
			}
			gh.on(nogoPath, jsonReply(http.StatusOK, string(raw)))
			ev := freshEvidence(bobNogo)
			ev.Comments[0].Confirmed = false // the NOGO came by webhook
			edit := bobNogo.domain()
			edit.Body, edit.UpdatedAt = tc.newBody, bobNogo.at.Add(time.Minute).UTC()
			edit.Fetched, edit.Confirmed, edit.EditedBy = false, false, "bob"
			ev.Apply(gatekeeper.Event{Name: "issue_comment.edited", Key: helloKey, Received: testEpoch.Add(-5 * time.Minute), Comment: &edit})
			if n := len(ev.Counted(true).Nogos()); n != 1 {
				t.Fatalf("before GitHub is asked, %d NOGOs stand, want 1: an edit claim must not drop a NOGO", n)
			}
			s := newTestSource(t, gh, newFakeTime(), testRetry())
			got, err := s.Gather(context.Background(), ev)
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			for _, e := range got {
				ev.Apply(e)
			}
			if stands := len(ev.Counted(true).Nogos()) == 1; stands != tc.wantStand {
				t.Errorf("NOGO stands: %v, want %v (comments %+v)", stands, tc.wantStand, ev.Comments)
			}
		})
	}
}
