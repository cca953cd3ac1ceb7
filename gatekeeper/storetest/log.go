package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// logEvent is a status webhook that changes nothing but the log.
func logEvent(key gatekeeper.PullKey, delivery string, n int) gatekeeper.Event {
	return gatekeeper.Event{
		Delivery: delivery, Name: "status", Key: key,
		Received: start.Add(time.Duration(n) * time.Millisecond),
		SHA:      fmt.Sprintf("%040x", n),
	}
}

// fillLog is FillLog reading through s.
func fillLog(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey, prefix string) *gatekeeper.Evidence {
	t.Helper()
	return FillLog(t, s, key, prefix, func(key gatekeeper.PullKey) *gatekeeper.Evidence { return evidence(t, s, key) })
}

// FillLog writes past gatekeeper.MaxLog log entries onto key in every way
// a store writes: Records alone and in groups, Updates, and changes that
// edit the log where no Apply does (inside it, cutting it short, emptying
// it), each followed by appends, and a Settle when the store is a
// gatekeeper.Settler. After each Update it checks that read
// gives back what the Update wrote (a store's own test reads past its
// cache). It returns the evidence the last Update left.
func FillLog(t *testing.T, s gatekeeper.Store, key gatekeeper.PullKey, prefix string, read func(gatekeeper.PullKey) *gatekeeper.Evidence) *gatekeeper.Evidence {
	t.Helper()
	ctx := context.Background()
	n := 0
	next := func() int { n++; return n }
	// Concurrent Records, so that groups commit several entries at once.
	var wg sync.WaitGroup
	errs := make(chan error, gatekeeper.MaxLog+30)
	for range 10 {
		wg.Add(1)
		ids := make([]int, (gatekeeper.MaxLog+30)/10)
		for i := range ids {
			ids[i] = next()
		}
		go func() {
			defer wg.Done()
			for _, id := range ids {
				d := fmt.Sprintf("%s-%d", prefix, id)
				errs <- s.Record(ctx, d, []gatekeeper.PullKey{key}, applying(logEvent(key, d, id)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	update := func(what string, fn func(*gatekeeper.Evidence)) *gatekeeper.Evidence {
		t.Helper()
		ev, err := s.Update(ctx, key, fn)
		if err != nil {
			t.Fatalf("Update (%s): %v", what, err)
		}
		if diff := cmp.Diff(ev, read(key)); diff != "" {
			t.Fatalf("evidence after an Update (%s) (-written +read):\n%s", what, diff)
		}
		return ev
	}
	apply := func(k int) func(*gatekeeper.Evidence) {
		return func(ev *gatekeeper.Evidence) {
			for range k {
				ev.Apply(logEvent(key, "", next()))
			}
		}
	}
	update("many entries in one write", apply(gatekeeper.MaxLog/2))
	update("an entry edited inside", func(ev *gatekeeper.Evidence) { ev.Log[7].Event = "edited" })
	update("then appended", apply(3))
	update("cut short", func(ev *gatekeeper.Evidence) { ev.Log = ev.Log[:10] })
	update("then appended", apply(5))
	update("cut at the start", func(ev *gatekeeper.Evidence) { ev.Log = ev.Log[4:] })
	update("emptied", func(ev *gatekeeper.Evidence) { ev.Log = nil })
	update("then appended", apply(2))
	update("filled again", apply(gatekeeper.MaxLog+1))
	if st, ok := s.(gatekeeper.Settler); ok {
		// An evaluation's Settle writes the log the same way.
		ev, _, err := st.Settle(ctx, key, gatekeeper.Settlement{Apply: apply(2)})
		if err != nil {
			t.Fatalf("Settle: %v", err)
		}
		if diff := cmp.Diff(ev, read(key)); diff != "" {
			t.Fatalf("evidence after a Settle (-written +read):\n%s", diff)
		}
	}
	return update("and one more", apply(1))
}

// testLog: the log keeps the newest gatekeeper.MaxLog entries, in the
// order the store accepted them, however they were written.
func testLog(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	// Records one at a time (their order is known), an Update of many
	// entries, and Records again: 209 entries, the first 9 dropped.
	for i := range 7 {
		d := fmt.Sprintf("one-%d", i)
		record(t, s, d, logEvent(pr1, d, i), pr1)
	}
	_, err := s.Update(ctx, pr1, func(ev *gatekeeper.Evidence) {
		for i := range gatekeeper.MaxLog - 3 {
			ev.Apply(logEvent(pr1, fmt.Sprintf("upd-%d", i), 1000+i))
		}
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	for i := range 5 {
		d := fmt.Sprintf("last-%d", i)
		record(t, s, d, logEvent(pr1, d, 5000+i), pr1)
	}
	ev := evidence(t, s, pr1)
	var want []string
	for i := 2; i < gatekeeper.MaxLog-3; i++ {
		want = append(want, fmt.Sprintf("upd-%d", i))
	}
	for i := range 5 {
		want = append(want, fmt.Sprintf("last-%d", i))
	}
	var got []string
	for _, l := range ev.Log {
		got = append(got, l.Delivery)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log deliveries (-want +got):\n%s", diff)
	}

	written := fillLog(t, s, pr2, "fill")
	if len(written.Log) != gatekeeper.MaxLog {
		t.Errorf("log of %s has %d entries, want %d", pr2, len(written.Log), gatekeeper.MaxLog)
	}
	seen := map[string]bool{}
	for _, l := range evidence(t, s, pr2).Log {
		if l.Delivery != "" && seen[l.Delivery] {
			t.Errorf("log entry of delivery %s twice", l.Delivery)
		}
		seen[l.Delivery] = true
	}
}

// OlderFormat returns evidence of key as stores wrote it before the log was
// kept apart: past a full log of status entries and a pull request, and
// its JSON, the log inline. The stores' migration tests write these bytes
// straight into their storage and read them back through the store.
func OlderFormat(t *testing.T, key gatekeeper.PullKey) (*gatekeeper.Evidence, []byte) {
	t.Helper()
	old := &gatekeeper.Evidence{Key: key, Version: 7}
	for i := range gatekeeper.MaxLog + 3 {
		old.Apply(gatekeeper.Event{Name: "status", Delivery: fmt.Sprintf("old-%d", i), Received: time.Unix(int64(i), 0).UTC(), Key: key})
	}
	old.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: time.Unix(900, 0).UTC(), Key: key,
		PullRequest: &gatekeeper.PullRequest{Key: key, State: "open", BaseRef: "master", HeadSHA: "abc", UpdatedAt: time.Unix(900, 0).UTC()}})
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"log":[{"delivery":"old-4"`) {
		t.Fatalf("the older format holds the log inline: %.200s", data)
	}
	return old, data
}
