package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Update applies fn to the existing evidence of key and returns it as
// written. fn runs exactly once. Update commits alone: it is the worker's
// path, not the webhooks'.
func (s *Store) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("updating evidence of %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	var ev *gatekeeper.Evidence
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		ev, err = s.writeEvidence(tx, key, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	return ev, nil
}

// writeEvidence applies fn to the evidence of key, which must exist, and
// writes it back.
func (s *Store) writeEvidence(tx *bolt.Tx, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	ev, stored, err := s.loadEvidence(tx, key, true)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, gatekeeper.ErrNotFound
	}
	if err := applyTo(ev, key, fn); err != nil {
		return nil, err
	}
	if err := s.storeEvidence(tx, key, ev, stored); err != nil {
		return nil, err
	}
	return ev, nil
}

// storedLog is the log of an evidence as the file holds it: apart, each
// entry under its own key in the log bucket (the format since the log was
// kept apart), or inside the evidence's JSON (the format before). log is
// never changed: storeEvidence compares the log written with it, to write
// only the entries that are new.
type storedLog struct {
	apart bool
	log   []gatekeeper.LogEntry
}

// loadEvidence returns the evidence of key as tx sees it, or nil when there
// is none, and, for a write (forWrite), its log as stored. The cache spares
// the JSON decode when it holds the version tx sees; the caller gets its
// own copy either way.
func (s *Store) loadEvidence(tx *bolt.Tx, key gatekeeper.PullKey, forWrite bool) (*gatekeeper.Evidence, storedLog, error) {
	version, known := storedVersion(tx, key)
	if known {
		if ev, stored := s.cache.get(key, version); ev != nil {
			return ev, stored, nil
		}
	}
	data := tx.Bucket(bucketEvidence).Get([]byte(key.String()))
	if data == nil {
		return nil, storedLog{}, nil
	}
	var head evidenceHead
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, storedLog{}, fmt.Errorf("decoding evidence of %s: %w", key, err)
	}
	ev := &head.Evidence
	if head.LogApart {
		log, err := readLog(tx, key)
		if err != nil {
			return nil, storedLog{}, err
		}
		ev.Log = log
	}
	stored := storedLog{apart: head.LogApart}
	if forWrite {
		// A copy: the caller may change the entries of ev.Log.
		stored.log = slices.Clone(ev.Log)
	}
	if known && ev.Version == version {
		s.cache.put(key, ev, stored.apart)
	}
	return ev, stored, nil
}

// evidenceHead is the JSON of the evidence bucket: the Evidence, with
// LogApart set when its log is in the log bucket (and Log then empty).
// Evidence written before the log was kept apart has no LogApart, and its
// Log inline.
type evidenceHead struct {
	gatekeeper.Evidence
	LogApart bool `json:"log_apart,omitempty"`
}

// logPrefix is the log bucket's prefix for the entries of key.
func logPrefix(key gatekeeper.PullKey) []byte {
	return append([]byte(key.String()), 0)
}

// logKey is the log bucket's key of the entry at seq: the entries of a
// pull request sort in their order.
func logKey(key gatekeeper.PullKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(logPrefix(key), seq)
}

// readLog reads the log of key from the log bucket, oldest first. The
// entries are joined into one JSON array and decoded at once, which costs
// what decoding the log inline did (an Unmarshal per entry costs twice);
// a first pass sizes the array.
func readLog(tx *bolt.Tx, key gatekeeper.PullKey) ([]gatekeeper.LogEntry, error) {
	prefix := logPrefix(key)
	c := tx.Bucket(bucketLog).Cursor()
	n := 1
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		n += len(v) + 1
	}
	buf := make([]byte, 1, n+1)
	buf[0] = '['
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, v...)
	}
	if len(buf) == 1 {
		return nil, nil
	}
	var log []gatekeeper.LogEntry
	if err := json.Unmarshal(append(buf, ']'), &log); err != nil {
		return nil, fmt.Errorf("decoding the log of %s: %w", key, err)
	}
	return log, nil
}

// writeLog makes the log bucket hold log for key, where it held stored:
// the entries dropped from the start of the log are deleted and the new
// ones put, so that a delivery writes one entry, whatever the log's length.
// Stored inside the evidence (the older format), the log is written whole
// (after deleting whatever entries of key the bucket holds: a newer file
// written by an older gatekeeper can leave some).
func writeLog(tx *bolt.Tx, key gatekeeper.PullKey, stored storedLog, log []gatekeeper.LogEntry) error {
	b := tx.Bucket(bucketLog)
	prefix := logPrefix(key)
	drop, kept, first := 0, 0, uint64(0)
	if stored.apart {
		drop, kept = gatekeeper.LogAppended(stored.log, log)
		if k, _ := b.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 {
			first = binary.BigEndian.Uint64(k[len(prefix):])
		}
	} else {
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			old = append(old, slices.Clone(k))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("deleting a log entry of %s: %w", key, err)
			}
		}
	}
	for i := range drop {
		if err := b.Delete(logKey(key, first+uint64(i))); err != nil {
			return fmt.Errorf("deleting a log entry of %s: %w", key, err)
		}
	}
	next := first + uint64(len(stored.log))
	if !stored.apart {
		next = 0
	}
	for i, l := range log[kept:] {
		data, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encoding a log entry of %s: %w", key, err)
		}
		if err := b.Put(logKey(key, next+uint64(i)), data); err != nil {
			return fmt.Errorf("writing a log entry of %s: %w", key, err)
		}
	}
	return nil
}

// storedVersion reads the Version written with the evidence of key; known
// is false for a file written before versions were kept apart.
func storedVersion(tx *bolt.Tx, key gatekeeper.PullKey) (uint64, bool) {
	b := tx.Bucket(bucketVersions).Get([]byte(key.String()))
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// applyTo runs fn on ev as one write: the store owns Key and Version, so
// whatever fn does to them is overwritten, and Version goes up by one. A
// panic in fn becomes an error, so that it cannot take down the goroutine
// that commits other requests' writes.
func applyTo(ev *gatekeeper.Evidence, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("applying a change to %s: panic: %v", key, p)
		}
	}()
	version := ev.Version
	fn(ev)
	ev.Key = key
	ev.Version = version + 1
	return nil
}

// storeEvidence encodes and writes ev with its version, indexes its head
// shas, and caches it. The log is written apart (writeLog): only the
// entries not in stored, the log as the file held it. Caching inside the
// transaction is safe even if the transaction then fails: an entry is
// only ever used for the version the file holds, and the next write of
// that version replaces the entry; and the group commit (Store.update)
// drops the entries of a transaction that failed. Within a transaction, a
// later write of the same pull request (a Settle after the group's
// Records) finds the entry at the version tx holds, with its log as
// written: what it writes next is then only what it adds.
func (s *Store) storeEvidence(tx *bolt.Tx, key gatekeeper.PullKey, ev *gatekeeper.Evidence, stored storedLog) error {
	head := evidenceHead{Evidence: *ev, LogApart: true}
	head.Log = nil
	data, err := json.Marshal(&head)
	if err != nil {
		return fmt.Errorf("encoding evidence of %s: %w", key, err)
	}
	if err := tx.Bucket(bucketEvidence).Put([]byte(key.String()), data); err != nil {
		return fmt.Errorf("writing evidence of %s: %w", key, err)
	}
	if err := writeLog(tx, key, stored, ev.Log); err != nil {
		return err
	}
	var version [8]byte
	binary.BigEndian.PutUint64(version[:], ev.Version)
	if err := tx.Bucket(bucketVersions).Put([]byte(key.String()), version[:]); err != nil {
		return fmt.Errorf("writing the version of the evidence of %s: %w", key, err)
	}
	s.cache.replace(key, ev)
	if err := indexEvidence(tx.Bucket(bucketIndex), ev); err != nil {
		return err
	}
	heads := tx.Bucket(bucketHeads)
	for _, h := range ev.Heads {
		if h.SHA == "" {
			continue
		}
		hk := headKey(h.SHA, key)
		// Get before Put: a Put of an unchanged key still dirties its page.
		if heads.Get(hk) != nil {
			continue
		}
		if err := heads.Put(hk, nil); err != nil {
			return fmt.Errorf("indexing head %s of %s: %w", h.SHA, key, err)
		}
	}
	return nil
}

// Evidence returns the evidence of key, or an error wrapping ErrNotFound.
func (s *Store) Evidence(ctx context.Context, key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	var ev *gatekeeper.Evidence
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if ev, _, err = s.loadEvidence(tx, key, false); err == nil && ev == nil {
			err = gatekeeper.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	return ev, nil
}

// Pulls lists every pull request with evidence, in key order.
func (s *Store) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	var out []gatekeeper.PullKey
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvidence).ForEach(func(k, _ []byte) error {
			key, err := gatekeeper.ParsePullKey(string(k))
			if err != nil {
				return err
			}
			out = append(out, key)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	return out, nil
}

// PullsForSHA lists the pull requests whose head has ever been sha, in key
// order.
func (s *Store) PullsForSHA(ctx context.Context, sha string) ([]gatekeeper.PullKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	if sha == "" {
		return nil, nil
	}
	prefix := append([]byte(sha), 0)
	var out []gatekeeper.PullKey
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHeads).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key, err := gatekeeper.ParsePullKey(string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	return out, nil
}

// PullsIndexed lists, in key order and once each, the pull requests
// indexed under any of terms.
func (s *Store) PullsIndexed(ctx context.Context, terms ...string) ([]gatekeeper.PullKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("finding indexed pull requests: %w", err)
	}
	seen := map[gatekeeper.PullKey]bool{}
	var out []gatekeeper.PullKey
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIndex).Cursor()
		for _, term := range terms {
			prefix := append([]byte(term), 0)
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				key, err := gatekeeper.ParsePullKey(string(k[len(prefix):]))
				if err != nil {
					return err
				}
				if !seen[key] {
					seen[key] = true
					out = append(out, key)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding pull requests under %q: %w", terms, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// indexEvidence adds ev's pull request under each of its index terms
// (term + "\x00" + key → empty) that it is not under yet.
func indexEvidence(b *bolt.Bucket, ev *gatekeeper.Evidence) error {
	for _, term := range gatekeeper.IndexTerms(ev) {
		k := make([]byte, 0, len(term)+1+32)
		k = append(append(append(k, term...), 0), ev.Key.String()...)
		// Get before Put: a Put of an unchanged key still dirties its page.
		if b.Get(k) != nil {
			continue
		}
		if err := b.Put(k, nil); err != nil {
			return fmt.Errorf("indexing %s under %q: %w", ev.Key, term, err)
		}
	}
	return nil
}

// buildIndex creates the index bucket and indexes every stored evidence.
func buildIndex(tx *bolt.Tx) error {
	b, err := tx.CreateBucket(bucketIndex)
	if err != nil {
		return fmt.Errorf("creating bucket %s: %w", bucketIndex, err)
	}
	return tx.Bucket(bucketEvidence).ForEach(func(k, v []byte) error {
		var ev gatekeeper.Evidence
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decoding evidence of %s to index it: %w", k, err)
		}
		key, err := gatekeeper.ParsePullKey(string(k))
		if err != nil {
			return err
		}
		ev.Key = key
		return indexEvidence(b, &ev)
	})
}

// headKey is the heads bucket's key. A sha never contains the separator, so
// a prefix scan on sha+"\x00" finds exactly that sha's pull requests.
func headKey(sha string, key gatekeeper.PullKey) []byte {
	k := make([]byte, 0, len(sha)+1+32)
	k = append(k, sha...)
	k = append(k, 0)
	return append(k, key.String()...)
}

// maxCached bounds the cache; gated release pull requests are few.
const maxCached = 256

// evidenceCache holds decoded evidence by pull request. It is never the
// source of truth: loadEvidence uses an entry only when its Version is the
// one stored in the transaction at hand. It only saves decoding a busy
// pull request's evidence (tens of kilobytes of JSON) on every webhook and
// every evaluation.
type evidenceCache struct {
	mu sync.Mutex
	m  map[gatekeeper.PullKey]cached
}

// cached is one entry: a copy of the evidence, which nothing changes, and
// whether the file holds its log apart.
type cached struct {
	ev    *gatekeeper.Evidence
	apart bool
}

// get returns a copy of the entry for key if it holds version, and its log
// as stored.
func (c *evidenceCache) get(key gatekeeper.PullKey, version uint64) (*gatekeeper.Evidence, storedLog) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e.ev != nil && e.ev.Version == version {
		// The entry's log is never changed: it can stand for the stored one.
		return e.ev.Clone(), storedLog{apart: e.apart, log: e.ev.Log}
	}
	return nil, storedLog{}
}

// put caches what was read, unless a newer version is cached already.
func (c *evidenceCache) put(key gatekeeper.PullKey, ev *gatekeeper.Evidence, apart bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[key]; cur.ev != nil && cur.ev.Version > ev.Version {
		return
	}
	c.set(key, ev, apart)
}

// replace caches what is being written (its log apart), whatever was
// cached.
func (c *evidenceCache) replace(key gatekeeper.PullKey, ev *gatekeeper.Evidence) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(key, ev, true)
}

// forget drops the entries of keys (a write of theirs was rolled back).
func (c *evidenceCache) forget(keys ...gatekeeper.PullKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, key := range keys {
		delete(c.m, key)
	}
}

func (c *evidenceCache) set(key gatekeeper.PullKey, ev *gatekeeper.Evidence, apart bool) {
	if c.m == nil {
		c.m = map[gatekeeper.PullKey]cached{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxCached {
		for k := range c.m { // drop any one: a miss only costs a decode
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cached{ev: ev.Clone(), apart: apart}
}
