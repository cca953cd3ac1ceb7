package gatekeeper

import (
	"container/heap"
	"time"
)

// machine is the scheduler's state: where each pull request this replica
// knows to have work stands, and when. It is a plain state machine driven
// by the time its caller passes in: no goroutines, no timers, no store. The
// scheduler feeds it notifications and outcomes, asks it for the next
// pull request to hand to a worker, and sleeps until its next wake.
//
// A pull request is in one phase:
//
//	(absent)  nothing to do, as far as this replica knows
//	waiting   due at a time: a debounce, a backoff after a failure, or a
//	          pause while another replica holds its lease
//	ready     due now, in line for a worker (first come, first served)
//	running   a worker has it; new evidence only marks it "again"
//
// Notifications never shorten a wait and never start a second evaluation
// of a running pull request; an evaluation that ends with "again" set is
// notified once more. The durable queue is the Store: the machine holds
// hints only, and a rescan of the Store notifies it of everything queued.
type machine struct {
	debounce time.Duration
	// backoff is the wait after the n-th failure in a row (n ≥ 1).
	backoff func(n int) time.Duration
	// busy is the wait before trying again a pull request whose lease
	// another replica holds (or took over).
	busy time.Duration

	slots map[PullKey]*slot
	ready []PullKey
	due   dueHeap
	// running counts the slots in phase running.
	running int
}

type phase int

const (
	waiting phase = iota + 1
	ready
	running
)

func (p phase) String() string {
	switch p {
	case waiting:
		return "waiting"
	case ready:
		return "ready"
	case running:
		return "running"
	}
	return "absent"
}

type slot struct {
	phase    phase
	at       time.Time // waiting: when it is due
	again    bool      // running: notified meanwhile
	attempts int       // failures in a row
}

// result is how an evaluation ended, as the machine sees it.
type result int

const (
	// succeeded: evaluated (and published); nothing to retry.
	succeeded result = iota
	// failed: retry after the backoff for the failures in a row.
	failed
	// busy: another replica holds the lease, or took it over; try
	// again after the busy pause.
	busyElsewhere
)

func newMachine(debounce, busy time.Duration, backoff func(int) time.Duration) *machine {
	return &machine{debounce: debounce, busy: busy, backoff: backoff, slots: map[PullKey]*slot{}}
}

// phase returns k's phase, 0 when absent.
func (m *machine) phase(k PullKey) phase {
	if s := m.slots[k]; s != nil {
		return s.phase
	}
	return 0
}

// notify says that k has (or may have) work: new evidence, a rescan, a
// reconcile. A burst of notifications is one evaluation after debounce.
func (m *machine) notify(k PullKey, now time.Time) {
	s := m.slots[k]
	if s == nil {
		s = &slot{}
		m.slots[k] = s
		if m.debounce <= 0 {
			m.makeReady(k, s)
		} else {
			m.wait(k, s, now.Add(m.debounce))
		}
		return
	}
	if s.phase == running {
		s.again = true
	}
	// waiting or ready: what is due covers this notification.
}

// next hands out the first ready pull request, after moving those whose
// time came into line. ok is false when none is ready.
func (m *machine) next(now time.Time) (PullKey, bool) {
	m.advance(now)
	for len(m.ready) > 0 {
		k := m.ready[0]
		m.ready = m.ready[1:]
		if s := m.slots[k]; s != nil && s.phase == ready {
			s.phase = running
			m.running++
			return k, true
		}
	}
	return PullKey{}, false
}

// peek returns what next would hand out, without handing it out.
func (m *machine) peek(now time.Time) (PullKey, bool) {
	m.advance(now)
	for len(m.ready) > 0 {
		k := m.ready[0]
		if s := m.slots[k]; s != nil && s.phase == ready {
			return k, true
		}
		m.ready = m.ready[1:]
	}
	return PullKey{}, false
}

// finish takes the outcome of k's evaluation.
func (m *machine) finish(k PullKey, r result, now time.Time) {
	s := m.slots[k]
	if s == nil || s.phase != running {
		return
	}
	m.running--
	again := s.again
	s.again = false
	switch r {
	case succeeded:
		delete(m.slots, k)
		if again {
			m.notify(k, now)
		}
	case failed:
		s.attempts++
		// The retry reads the Store afresh: it covers "again".
		m.wait(k, s, now.Add(m.backoff(s.attempts)))
	case busyElsewhere:
		m.wait(k, s, now.Add(m.busy))
	}
}

// attempts returns k's failures in a row.
func (m *machine) attempts(k PullKey) int {
	if s := m.slots[k]; s != nil {
		return s.attempts
	}
	return 0
}

// wake returns when the next waiting pull request is due; ok is false
// when none waits.
func (m *machine) wake() (time.Time, bool) {
	for m.due.Len() > 0 {
		d := m.due[0]
		if s := m.slots[d.key]; s != nil && s.phase == waiting && s.at.Equal(d.at) {
			return d.at, true
		}
		heap.Pop(&m.due) // stale: the slot moved on
	}
	return time.Time{}, false
}

// depth is how many pull requests are in line or being evaluated.
func (m *machine) depth() int { return len(m.ready) + m.running }

// busyKeys returns how many pull requests are running.
func (m *machine) inFlight() int { return m.running }

// advance moves every waiting pull request whose time came into line, the
// earliest first.
func (m *machine) advance(now time.Time) {
	for {
		at, ok := m.wake()
		if !ok || at.After(now) {
			return
		}
		d := heap.Pop(&m.due).(dueEntry)
		m.makeReady(d.key, m.slots[d.key])
	}
}

func (m *machine) wait(k PullKey, s *slot, at time.Time) {
	s.phase, s.at = waiting, at
	heap.Push(&m.due, dueEntry{at: at, key: k})
}

func (m *machine) makeReady(k PullKey, s *slot) {
	s.phase = ready
	m.ready = append(m.ready, k)
}

// dueEntry is one waiting pull request in the heap; entries whose slot has
// moved on are dropped when they come to the top.
type dueEntry struct {
	at  time.Time
	key PullKey
}

type dueHeap []dueEntry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].key.String() < h[j].key.String()
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
