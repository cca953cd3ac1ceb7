package gatekeepertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// errClosed is returned by every method of a closed Store.
var errClosed = errors.New("store closed")

// Store is an in-memory gatekeeper.Store. It keeps the semantics the
// interface documents and the real stores share: records are kept as JSON,
// so what a caller reads back went through the same encoding as in bbolt or
// Redis (times lose their monotonic reading, numbers in a decision's input
// come back as float64); the Store owns Evidence.Key and Evidence.Version;
// queue generations come from one counter; deliveries are stamped with the
// Store's clock.
//
// Fail makes every later call fail, to test how callers handle a store
// that is down. Records lists every Record call the Store was asked.
type Store struct {
	clock gatekeeper.Clock

	mu         sync.Mutex
	fail       error
	closed     bool
	evidence   map[gatekeeper.PullKey][]byte
	heads      map[string]map[gatekeeper.PullKey]bool
	index      map[string]map[gatekeeper.PullKey]bool
	queue      map[gatekeeper.PullKey]uint64
	seq        uint64
	decisions  map[gatekeeper.PullKey][][]byte // oldest first
	deliveries map[string]time.Time
	records    []Recorded

	// LocalLeases makes the Store a gatekeeper.Leaser, as boltstore's.
	*gatekeeper.LocalLeases
}

var (
	_ gatekeeper.Store  = (*Store)(nil)
	_ gatekeeper.Leaser = (*Store)(nil)
)

// Recorded is one call to Store.Record and its result.
type Recorded struct {
	Delivery string
	Keys     []gatekeeper.PullKey
	// Err is what Record returned: nil when the delivery was stored.
	Err error
}

// NewStore returns an empty Store whose deliveries are stamped by clock
// (gatekeeper.SystemClock when nil).
func NewStore(clock gatekeeper.Clock) *Store {
	if clock == nil {
		clock = gatekeeper.SystemClock{}
	}
	return &Store{
		clock:       clock,
		LocalLeases: gatekeeper.NewLocalLeases(clock),
		evidence:    map[gatekeeper.PullKey][]byte{},
		heads:       map[string]map[gatekeeper.PullKey]bool{},
		index:       map[string]map[gatekeeper.PullKey]bool{},
		queue:       map[gatekeeper.PullKey]uint64{},
		decisions:   map[gatekeeper.PullKey][][]byte{},
		deliveries:  map[string]time.Time{},
	}
}

// Fail makes every later call return an error wrapping err, as a store that
// cannot be reached would; Fail(nil) heals it.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Records returns every Record call so far, in order, duplicates and
// failures included.
func (s *Store) Records() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.records))
	for i, r := range s.records {
		r.Keys = append([]gatekeeper.PullKey(nil), r.Keys...)
		out[i] = r
	}
	return out
}

// check reports the injected failure or a closed store. The caller holds mu.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return errClosed
	}
	return s.fail
}

// Record implements gatekeeper.Store.
func (s *Store) Record(ctx context.Context, delivery string, keys []gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.record(ctx, delivery, keys, apply)
	s.records = append(s.records, Recorded{Delivery: delivery, Keys: append([]gatekeeper.PullKey(nil), keys...), Err: err})
	return err
}

func (s *Store) record(ctx context.Context, delivery string, keys []gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	keys, err := gatekeeper.DistinctKeys(keys)
	if err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	if delivery != "" {
		if _, ok := s.deliveries[delivery]; ok {
			return fmt.Errorf("recording delivery %s: %w", delivery, gatekeeper.ErrDuplicate)
		}
	}
	// Apply to every key before writing any, so that an encoding error
	// leaves the store unchanged, as a rolled-back transaction would.
	written := make(map[gatekeeper.PullKey]*gatekeeper.Evidence, len(keys))
	for _, k := range keys {
		ev, err := s.modify(k, true, apply)
		if err != nil {
			return fmt.Errorf("recording delivery %s: %w", delivery, err)
		}
		written[k] = ev
	}
	for _, k := range keys {
		if err := s.put(written[k]); err != nil {
			return fmt.Errorf("recording delivery %s: %w", delivery, err)
		}
		s.seq++
		s.queue[k] = s.seq
	}
	if delivery != "" {
		s.deliveries[delivery] = s.clock.Now()
	}
	return nil
}

// modify decodes key's evidence (a new one when create is set and there is
// none, else ErrNotFound) and applies fn to it. The Store owns Key and
// Version: whatever fn does to them is overwritten.
func (s *Store) modify(key gatekeeper.PullKey, create bool, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	ev := &gatekeeper.Evidence{Key: key}
	if data, ok := s.evidence[key]; ok {
		if err := json.Unmarshal(data, ev); err != nil {
			return nil, fmt.Errorf("decoding evidence of %s: %w", key, err)
		}
	} else if !create {
		return nil, gatekeeper.ErrNotFound
	}
	version := ev.Version
	fn(ev)
	ev.Key = key
	ev.Version = version + 1
	return ev, nil
}

// put encodes ev and indexes its heads.
func (s *Store) put(ev *gatekeeper.Evidence) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding evidence of %s: %w", ev.Key, err)
	}
	s.evidence[ev.Key] = data
	for _, h := range ev.Heads {
		if h.SHA == "" {
			continue
		}
		if s.heads[h.SHA] == nil {
			s.heads[h.SHA] = map[gatekeeper.PullKey]bool{}
		}
		s.heads[h.SHA][ev.Key] = true
	}
	for _, t := range gatekeeper.IndexTerms(ev) {
		if s.index[t] == nil {
			s.index[t] = map[gatekeeper.PullKey]bool{}
		}
		s.index[t][ev.Key] = true
	}
	return nil
}

// Update implements gatekeeper.Store.
func (s *Store) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("updating evidence of %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	ev, err := s.modify(key, false, fn)
	if err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	if err := s.put(ev); err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	return s.decode(key)
}

// decode returns a fresh copy of key's stored evidence.
func (s *Store) decode(key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	data, ok := s.evidence[key]
	if !ok {
		return nil, gatekeeper.ErrNotFound
	}
	ev := &gatekeeper.Evidence{}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("decoding evidence of %s: %w", key, err)
	}
	return ev, nil
}

// Evidence implements gatekeeper.Store.
func (s *Store) Evidence(ctx context.Context, key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	ev, err := s.decode(key)
	if err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	return ev, nil
}

// Pulls implements gatekeeper.Store; the keys come in key order.
func (s *Store) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	var out []gatekeeper.PullKey
	for k := range s.evidence {
		out = append(out, k)
	}
	sortKeys(out)
	return out, nil
}

// PullsForSHA implements gatekeeper.Store; the keys come in key order.
func (s *Store) PullsForSHA(ctx context.Context, sha string) ([]gatekeeper.PullKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	var out []gatekeeper.PullKey
	for k := range s.heads[sha] {
		out = append(out, k)
	}
	sortKeys(out)
	return out, nil
}

// PullsIndexed implements gatekeeper.Store; the keys come in key order.
func (s *Store) PullsIndexed(ctx context.Context, terms ...string) ([]gatekeeper.PullKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("finding pull requests under %q: %w", terms, err)
	}
	seen := map[gatekeeper.PullKey]bool{}
	var out []gatekeeper.PullKey
	for _, t := range terms {
		for k := range s.index[t] {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sortKeys(out)
	return out, nil
}

// Enqueue implements gatekeeper.Store.
func (s *Store) Enqueue(ctx context.Context, key gatekeeper.PullKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("queueing %s: %w", key, err)
	}
	if !key.Valid() {
		return fmt.Errorf("queueing %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	s.seq++
	s.queue[key] = s.seq
	return nil
}

// Queued implements gatekeeper.Store; the items come in key order.
func (s *Store) Queued(ctx context.Context) ([]gatekeeper.QueueItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	keys := make([]gatekeeper.PullKey, 0, len(s.queue))
	for k := range s.queue {
		keys = append(keys, k)
	}
	sortKeys(keys)
	out := make([]gatekeeper.QueueItem, len(keys))
	for i, k := range keys {
		out[i] = gatekeeper.QueueItem{Key: k, Generation: s.queue[k]}
	}
	return out, nil
}

// Generation implements gatekeeper.Store.
func (s *Store) Generation(ctx context.Context, key gatekeeper.PullKey) (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, false, fmt.Errorf("reading generation of %s: %w", key, err)
	}
	gen, ok := s.queue[key]
	return gen, ok, nil
}

// Done implements gatekeeper.Store.
func (s *Store) Done(ctx context.Context, key gatekeeper.PullKey, gen uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("marking %s done: %w", key, err)
	}
	cur, ok := s.queue[key]
	if !ok || cur != gen {
		return false, nil
	}
	delete(s.queue, key)
	return true, nil
}

// AddDecision implements gatekeeper.Store.
func (s *Store) AddDecision(ctx context.Context, rec gatekeeper.DecisionRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("adding decision for %s: %w", rec.Key, err)
	}
	if !rec.Key.Valid() {
		return fmt.Errorf("adding decision for %s: invalid pull request key: %w", rec.Key, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding decision for %s: %w", rec.Key, err)
	}
	recs := append(s.decisions[rec.Key], data)
	if n := len(recs); n > gatekeeper.MaxDecisions {
		recs = append([][]byte(nil), recs[n-gatekeeper.MaxDecisions:]...)
	}
	s.decisions[rec.Key] = recs
	return nil
}

// Decisions implements gatekeeper.Store: newest first; a limit of zero or
// less returns every record kept.
func (s *Store) Decisions(ctx context.Context, key gatekeeper.PullKey, limit int) ([]gatekeeper.DecisionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("listing decisions for %s: %w", key, err)
	}
	recs := s.decisions[key]
	if limit <= 0 || limit > len(recs) {
		limit = len(recs)
	}
	out := make([]gatekeeper.DecisionRecord, 0, limit)
	for i := len(recs) - 1; i >= 0 && len(out) < limit; i-- {
		var rec gatekeeper.DecisionRecord
		if err := json.Unmarshal(recs[i], &rec); err != nil {
			return nil, fmt.Errorf("decoding decision for %s: %w", key, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// HasDelivery implements gatekeeper.Store.
func (s *Store) HasDelivery(ctx context.Context, delivery string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("looking up delivery %s: %w", delivery, err)
	}
	_, ok := s.deliveries[delivery]
	return ok, nil
}

// ForgetDeliveries implements gatekeeper.Store.
func (s *Store) ForgetDeliveries(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, fmt.Errorf("forgetting deliveries before %s: %w", before, err)
	}
	n := 0
	for id, at := range s.deliveries {
		if at.Before(before) {
			delete(s.deliveries, id)
			n++
		}
	}
	return n, nil
}

// Ping implements gatekeeper.Store: it fails once the Store is closed or
// told to Fail.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("pinging memory store: %w", err)
	}
	return nil
}

// Close implements gatekeeper.Store; closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// sortKeys puts keys in the order of their string form, the order the
// real stores list them in.
func sortKeys(keys []gatekeeper.PullKey) {
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
}
