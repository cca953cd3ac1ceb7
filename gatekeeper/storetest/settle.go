package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// testSettle: a Store that is a gatekeeper.Settler writes an evaluation's
// evidence change, decision record and dequeue together; each part is
// optional; a moved generation keeps the pull request queued; missing
// evidence is ErrNotFound and writes nothing.
func testSettle(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	st, ok := s.(gatekeeper.Settler)
	if !ok {
		t.Skip("the store is no gatekeeper.Settler")
	}
	ctx := context.Background()
	key := gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 1}
	record(t, s, "d1", pullEvent(key, "d1", "sha1", 1), key)
	gen, _ := generation(t, s, key)
	before := evidence(t, s, key)

	// Everything at once, at the generation read.
	rec := decision(key, 1)
	ev, done, err := st.Settle(ctx, key, gatekeeper.Settlement{
		Apply: func(ev *gatekeeper.Evidence) {
			ev.Published = &gatekeeper.PublishedStatus{SHA: "sha1", State: gatekeeper.Pending}
		},
		Decision: &rec, Dequeue: true, Generation: gen,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !done || ev.Published == nil || ev.Version != before.Version+1 {
		t.Errorf("Settle returned done %v, published %v, version %d; want true, set, %d", done, ev.Published, ev.Version, before.Version+1)
	}
	if got := evidence(t, s, key); got.Published == nil || got.Published.SHA != "sha1" {
		t.Errorf("stored evidence: published %v, want the settled one", got.Published)
	}
	if _, queued := generation(t, s, key); queued {
		t.Error("the pull request is still queued")
	}
	recs, err := s.Decisions(ctx, key, 0)
	if err != nil || len(recs) != 1 || recs[0].HeadSHA != rec.HeadSHA {
		t.Fatalf("Decisions = %v, %v; want the settled record", recs, err)
	}

	// New evidence meanwhile: the generation moved, the key stays queued;
	// no Apply and no Decision: nothing else is written.
	record(t, s, "d2", reviewEvent(key, "d2", 7), key)
	oldGen, _ := generation(t, s, key)
	record(t, s, "d3", reviewEvent(key, "d3", 8), key)
	mid := evidence(t, s, key)
	ev, done, err = st.Settle(ctx, key, gatekeeper.Settlement{Dequeue: true, Generation: oldGen})
	if err != nil {
		t.Fatal(err)
	}
	if done || ev.Version != mid.Version {
		t.Errorf("Settle at an old generation: done %v, version %d; want false, %d", done, ev.Version, mid.Version)
	}
	if _, queued := generation(t, s, key); !queued {
		t.Error("the pull request left the queue at an old generation")
	}
	if recs, _ := s.Decisions(ctx, key, 0); len(recs) != 1 {
		t.Errorf("%d decision records, want 1", len(recs))
	}

	// Missing evidence.
	missing := gatekeeper.PullKey{Owner: "o", Repo: "r", Number: 404}
	rec404 := decision(missing, 1)
	if _, _, err := st.Settle(ctx, missing, gatekeeper.Settlement{Apply: func(*gatekeeper.Evidence) {}, Decision: &rec404}); !errors.Is(err, gatekeeper.ErrNotFound) {
		t.Errorf("Settle on missing evidence: %v, want ErrNotFound", err)
	}
	if recs, _ := s.Decisions(ctx, missing, 0); len(recs) != 0 {
		t.Errorf("Settle on missing evidence kept %d decision records", len(recs))
	}
}
