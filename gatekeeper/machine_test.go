package gatekeeper

import (
	"testing"
	"time"
)

var (
	mk1 = PullKey{Owner: "acme", Repo: "shop", Number: 1}
	mk2 = PullKey{Owner: "acme", Repo: "shop", Number: 2}
	mk3 = PullKey{Owner: "acme", Repo: "shop", Number: 3}
)

var m0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return m0.Add(d) }

func testMachine() *machine {
	return newMachine(200*time.Millisecond, time.Second, func(n int) time.Duration {
		return time.Duration(n) * 10 * time.Second
	})
}

// mustNext hands out the next pull request at now and checks it is want.
func mustNext(t *testing.T, m *machine, now time.Time, want PullKey) {
	t.Helper()
	got, ok := m.next(now)
	if !ok || got != want {
		t.Fatalf("next(%s) = %v, %v; want %v", now.Sub(m0), got, ok, want)
	}
}

func mustNone(t *testing.T, m *machine, now time.Time) {
	t.Helper()
	if got, ok := m.next(now); ok {
		t.Fatalf("next(%s) = %v; want nothing", now.Sub(m0), got)
	}
}

func mustWake(t *testing.T, m *machine, want time.Time) {
	t.Helper()
	got, ok := m.wake()
	if !ok || !got.Equal(want) {
		t.Fatalf("wake() = %s, %v; want %s", got.Sub(m0), ok, want.Sub(m0))
	}
}

func TestMachineBurstIsOneEvaluationAfterDebounce(t *testing.T) {
	m := testMachine()
	m.notify(mk1, at(0))
	m.notify(mk1, at(50*time.Millisecond))
	m.notify(mk1, at(150*time.Millisecond))
	mustWake(t, m, at(200*time.Millisecond)) // the first notification's debounce
	mustNone(t, m, at(199*time.Millisecond))
	mustNext(t, m, at(200*time.Millisecond), mk1)
	mustNone(t, m, at(time.Hour))
	if m.depth() != 1 {
		t.Fatalf("depth %d, want 1 running", m.depth())
	}
	m.finish(mk1, succeeded, at(300*time.Millisecond))
	if _, ok := m.wake(); ok || len(m.slots) != 0 || m.depth() != 0 {
		t.Fatalf("after success: slots %v, depth %d; want nothing left", m.slots, m.depth())
	}
}

func TestMachineNeverTwoAtOnce(t *testing.T) {
	m := testMachine()
	m.debounce = 0
	m.notify(mk1, at(0))
	mustNext(t, m, at(0), mk1)
	// New evidence while it runs: noted, not handed out.
	m.notify(mk1, at(time.Second))
	m.notify(mk1, at(2*time.Second))
	mustNone(t, m, at(time.Hour))
	if p := m.phase(mk1); p != running {
		t.Fatalf("phase %s, want running", p)
	}
	// It finishes: one more evaluation for everything noted meanwhile.
	m.finish(mk1, succeeded, at(3*time.Second))
	mustNext(t, m, at(3*time.Second), mk1)
	m.finish(mk1, succeeded, at(4*time.Second))
	mustNone(t, m, at(time.Hour))
}

func TestMachineBackoffIsNotShortenedByNotifications(t *testing.T) {
	m := testMachine()
	m.notify(mk1, at(0))
	mustNext(t, m, at(time.Second), mk1)
	m.finish(mk1, failed, at(2*time.Second))
	mustWake(t, m, at(12*time.Second))
	m.notify(mk1, at(3*time.Second)) // a webhook during the backoff
	mustNone(t, m, at(11*time.Second))
	mustNext(t, m, at(12*time.Second), mk1)
	m.finish(mk1, failed, at(13*time.Second))
	mustWake(t, m, at(33*time.Second)) // the second failure waits twice as long
	if n := m.attempts(mk1); n != 2 {
		t.Fatalf("attempts %d, want 2", n)
	}
	mustNext(t, m, at(33*time.Second), mk1)
	m.finish(mk1, succeeded, at(34*time.Second))
	if n := m.attempts(mk1); n != 0 {
		t.Fatalf("attempts after success %d, want 0", n)
	}
}

func TestMachineBusyElsewhereIsTriedAgainAfterThePause(t *testing.T) {
	m := testMachine()
	m.notify(mk1, at(0))
	mustNext(t, m, at(time.Second), mk1)
	m.finish(mk1, busyElsewhere, at(time.Second))
	mustWake(t, m, at(2*time.Second))
	mustNone(t, m, at(1999*time.Millisecond))
	mustNext(t, m, at(2*time.Second), mk1)
	if n := m.attempts(mk1); n != 0 {
		t.Fatalf("a busy lease counted as %d failures", n)
	}
}

func TestMachineHandsOutEarliestFirst(t *testing.T) {
	m := testMachine()
	m.notify(mk3, at(20*time.Millisecond))
	m.notify(mk1, at(0))
	m.notify(mk2, at(10*time.Millisecond))
	mustNext(t, m, at(time.Second), mk1)
	mustNext(t, m, at(time.Second), mk2)
	mustNext(t, m, at(time.Second), mk3)
	mustNone(t, m, at(time.Second))
	if m.depth() != 3 {
		t.Fatalf("depth %d, want 3", m.depth())
	}
	// peek does not hand out.
	m.finish(mk2, succeeded, at(2*time.Second))
	m.notify(mk2, at(2*time.Second))
	if k, ok := m.peek(at(3 * time.Second)); !ok || k != mk2 {
		t.Fatalf("peek = %v, %v", k, ok)
	}
	mustNext(t, m, at(3*time.Second), mk2)
}

func TestMachineFinishOfUnknownIsIgnored(t *testing.T) {
	m := testMachine()
	m.finish(mk1, failed, at(0))
	m.notify(mk1, at(0))
	m.finish(mk1, failed, at(0)) // waiting, not running
	if _, ok := m.wake(); !ok || m.phase(mk1) != waiting || m.attempts(mk1) != 0 {
		t.Fatalf("phase %s attempts %d", m.phase(mk1), m.attempts(mk1))
	}
}
