package webhooks

import (
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// TestWindowCountdown: the board counts down to the Go/NoGo meeting and the
// release of the next window day, in the window's zone, from the policy's
// window data.
func TestWindowCountdown(t *testing.T) {
	st := opa.Settings{Window: opa.WindowSettings{Enforce: true, Timezone: "Asia/Kolkata", ZoneLabel: "IST",
		Weekdays: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}, GoNoGo: "16:00", Release: "17:00", Close: "19:00"}}
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name                 string
		now                  time.Time
		day, gonogo, release string
		open                 bool
	}{
		{"before the meeting", time.Date(2024, 5, 6, 15, 30, 0, 0, ist), "today", "16:00 IST, in 30m", "17:00 IST, in 1h 30m", false},
		{"the window is open", time.Date(2024, 5, 6, 17, 30, 0, 0, ist), "today", "16:00 IST, 1h 30m ago", "17:00 IST, 30m ago", true},
		{"after Friday's close", time.Date(2024, 5, 10, 19, 30, 0, 0, ist), "Monday 13 May", "16:00 IST, in 2d 20h", "17:00 IST, in 2d 21h", false},
		{"Sunday", time.Date(2024, 5, 12, 9, 0, 0, 0, ist), "tomorrow", "16:00 IST, in 1d 7h", "17:00 IST, in 1d 8h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(st, zoneOf(st), tt.now)
			if w.Day != tt.day || w.GoNoGo.Text != tt.gonogo || w.Release.Text != tt.release || w.Open != tt.open {
				t.Errorf("window = %q, %q, %q, open %v; want %q, %q, %q, open %v", w.Day, w.GoNoGo.Text, w.Release.Text, w.Open,
					tt.day, tt.gonogo, tt.release, tt.open)
			}
		})
	}
	if z := zoneOf(opa.Settings{}); z.Loc != time.UTC || when(z, time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC)) != "2024-05-06 10:00:00 UTC" {
		t.Errorf("without a window the zone is %v", z.Loc)
	}
	if got := when(zoneOf(st), time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC)); got != "2024-05-06 15:30:00 IST" {
		t.Errorf("when = %q, want the window's zone", got)
	}
}

// TestHubNeverBlocks: a board that falls behind is told to reload instead
// of holding up the worker that publishes; Close ends every stream.
func TestHubNeverBlocks(t *testing.T) {
	h := NewHub()
	s, cancel := h.subscribe()
	for i := 0; i < hubBuffer+5; i++ {
		h.Publish(gatekeeper.DecisionRecord{Key: gatekeeper.PullKey{Owner: "o", Repo: "r", Number: i + 1}})
	}
	select {
	case <-s.lost:
	default:
		t.Error("a subscriber behind by more than its buffer is not told to reload")
	}
	cancel()
	if h.subscribers() != 0 {
		t.Error("cancel left the subscriber")
	}
	h.Close()
	h.Close() // twice is harmless
	select {
	case <-h.done():
	default:
		t.Error("Close did not end the streams")
	}
	var none *Hub
	none.Publish(gatekeeper.DecisionRecord{}) // a nil Hub publishes nothing
}

// TestMatrixLiftedNogo: QA's NOGO is a veto until a lift the policy
// counted takes it away; a lift it refused changes nothing.
func TestMatrixLiftedNogo(t *testing.T) {
	at := time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC)
	head := "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	st := opa.Settings{
		Approvals: opa.ApprovalSettings{Roles: []opa.Role{{ID: "qa", Display: "QA", Users: []string{"qa-carol"}}, {ID: "release_manager", Users: []string{"rm-grace"}}}},
		Votes:     opa.VoteSettings{VetoRoles: []string{"qa"}},
	}
	ev := &gatekeeper.Evidence{
		PR:    &gatekeeper.PullRequest{State: "open", HeadSHA: head, Author: "dev"},
		Heads: []gatekeeper.HeadChange{{SHA: head, At: at.Add(-time.Hour)}},
		Comments: []gatekeeper.Comment{
			{ID: 5, User: "qa-carol", Body: "/nogo smoke tests red", CreatedAt: at, UpdatedAt: at},
			{ID: 6, User: "rm-grace", Body: "/lift @qa-carol fixed upstream", CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)},
		},
	}
	cell := func(verdict string) holderCell {
		rec := &gatekeeper.DecisionRecord{Decision: gatekeeper.Decision{Votes: []gatekeeper.VoteVerdict{
			{CommentID: 5, User: "qa-carol", Verdict: "counted"}, {CommentID: 6, User: "rm-grace", Verdict: verdict}}}}
		m := newMatrix(st, ev, rec)
		if len(m.Roles) == 0 || len(m.Roles[0].Holders) != 1 {
			t.Fatalf("matrix = %+v", m)
		}
		return m.Roles[0].Holders[0]
	}
	if c := cell("refused"); !c.Veto || c.LiftedBy != "" || c.Vote != "nogo" {
		t.Errorf("with the lift refused: %+v, want a veto", c)
	}
	if c := cell("counted"); c.Veto || c.LiftedBy != "rm-grace" {
		t.Errorf("with the lift counted: %+v, want lifted by rm-grace, no veto", c)
	}
}
