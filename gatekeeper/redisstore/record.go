package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// writeReq is one Record or Update waiting for a group commit.
type writeReq struct {
	ctx      context.Context
	delivery string
	keys     []gatekeeper.PullKey
	apply    func(*gatekeeper.Evidence)
	update   bool // an Update: the evidence must exist, the key is not queued
	// settle, for a Settle: the decision record and dequeue made in the
	// same commit, after the evidence.
	settle *settleArgs

	// Set by each attempt afresh.
	dup      bool
	err      error                // this request alone failed (ErrNotFound, a panic)
	out      *gatekeeper.Evidence // Update: the evidence as fn left it
	dequeued bool                 // Settle: the commit took the key off the queue
	res      chan error           // buffered
}

// Record marks delivery as seen, applies apply to the evidence of every key
// (once per distinct key), and queues the keys, in one atomic step on the
// server (commitScript). It returns gatekeeper.ErrDuplicate, changing
// nothing, when the delivery was seen before; when it returns nil the
// server has made the change (durable as its persistence settings make it;
// see doc.go).
//
// Records and Updates are committed in groups, as in boltstore: one
// goroutine takes every write waiting, reads the evidence they touch once,
// applies them in order, and writes each pull request once. apply may run
// more than once: when another replica wrote one of the pull requests
// between the read and the write, the group is read and applied again;
// only the run that is written counts.
func (s *Store) Record(ctx context.Context, delivery string, keys []gatekeeper.PullKey, apply func(*gatekeeper.Evidence)) error {
	keys, err := gatekeeper.DistinctKeys(keys)
	if err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	if err := s.submit(&writeReq{ctx: ctx, delivery: delivery, keys: keys, apply: apply}); err != nil {
		return fmt.Errorf("recording delivery %s: %w", delivery, err)
	}
	return nil
}

// Update applies fn to the existing evidence of key and returns it as fn
// left it. fn may run more than once (see Record), each time on the
// evidence as stored.
func (s *Store) Update(ctx context.Context, key gatekeeper.PullKey, fn func(*gatekeeper.Evidence)) (*gatekeeper.Evidence, error) {
	if !key.Valid() {
		return nil, fmt.Errorf("updating evidence of %s: invalid pull request key: %w", key, gatekeeper.ErrInvalid)
	}
	req := &writeReq{ctx: ctx, keys: []gatekeeper.PullKey{key}, apply: fn, update: true}
	if err := s.submit(req); err != nil {
		return nil, fmt.Errorf("updating evidence of %s: %w", key, err)
	}
	return req.out, nil
}

// submit hands req to commitLoop and waits for its outcome.
func (s *Store) submit(req *writeReq) error {
	if err := req.ctx.Err(); err != nil {
		return err
	}
	req.res = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.requests <- req
	s.mu.RUnlock()
	return <-req.res
}

// commitLoop commits the waiting writes in groups until requests is
// closed. It is the only goroutine that receives from requests, so the
// writes of one process never race each other; only other processes'
// can make a group stale.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	for first := range s.requests {
		group := []*writeReq{first}
	gather:
		for len(group) < s.maxBatch {
			select {
			case req, ok := <-s.requests:
				if !ok {
					break gather
				}
				group = append(group, req)
			default:
				break gather
			}
		}
		err := s.commitGroup(group)
		for _, req := range group {
			switch {
			case req.err != nil:
				req.res <- req.err
			case req.dup:
				req.res <- gatekeeper.ErrDuplicate
			default:
				req.res <- err
			}
		}
	}
}

// pending is one pull request's evidence within a group.
type pending struct {
	key     gatekeeper.PullKey
	expect  string // token read, "" when absent
	written string // token written
	ev      *gatekeeper.Evidence
	stored  storedLog // the log as read, to write only what changed
	queue   bool
}

// storedLog is the log of an evidence as the server holds it: apart, in
// the list P:log:<pull> (the format since the log was kept apart), or
// inside the evidence's JSON (the format before). log is never changed.
type storedLog struct {
	apart bool
	log   []gatekeeper.LogEntry
}

// evidenceHead is the JSON of P:ev:<pull>: the Evidence, with LogApart set
// when its log is in P:log:<pull> (and Log then empty). Evidence written
// before the log was kept apart has no LogApart, and its Log inline.
type evidenceHead struct {
	gatekeeper.Evidence
	LogApart bool `json:"log_apart,omitempty"`
}

// errAgain starts a group's attempt again without the request that failed
// alone.
var errAgain = errors.New("again")

// commitGroup reads, applies and writes group until the write is not
// stale. A request that fails alone gets its err; the error returned is
// every other request's.
func (s *Store) commitGroup(group []*writeReq) error {
	// The group's writes are made for its callers: a caller that gave up
	// is one of many, so the group goes on under a deadline of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.err = err // nothing written for it: it may give up
		}
	}
	for attempt := 1; ; attempt++ {
		cid, pulls, args, err := s.prepare(ctx, group)
		if errors.Is(err, errAgain) {
			continue
		}
		if err != nil {
			return err
		}
		if args == nil {
			return nil // every request is a duplicate or failed alone
		}
		reply, err := s.run(ctx, commitScript, args...)
		var rerr redis.Error
		if err != nil && !errors.As(err, &rerr) && !errors.Is(err, ErrReplicas) {
			// The reply was lost: the write may have been made. Its
			// receipt tells; sending it again could make it twice.
			made, verr := s.rdb.Exists(ctx, s.key("commit", cid)).Result()
			switch {
			case verr != nil:
				return fmt.Errorf("writing to redis, and checking whether the write was made: %w", errors.Join(err, verr))
			case made == 1 && s.replicas > 0:
				// Made, but whether the replicas have it is not known.
				s.cacheGroup(pulls)
				return fmt.Errorf("%w: the write was made, its reply lost before the replicas' count", ErrReplicas)
			case made == 1:
				s.cacheGroup(pulls)
				return nil
			case attempt >= maxAttempts:
				return fmt.Errorf("writing to redis: %w", err)
			default:
				continue // not made: try again
			}
		}
		if err != nil && !errors.Is(err, ErrReplicas) {
			return fmt.Errorf("writing to redis: %w", err)
		}
		verdict, _ := reply.([]any)
		if len(verdict) > 0 && verdict[0] == "ok" {
			s.cacheGroup(pulls)
			j := 1
			for _, req := range group {
				if req.err == nil && req.settle != nil {
					if j < len(verdict) {
						n, _ := verdict[j].(int64)
						req.dequeued = n == 1
					}
					j++
				}
			}
			return err // nil, or too few replicas
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("writing to redis: still stale after %d attempts (%v)", attempt, verdict)
		}
		// Another replica wrote first: read again and apply again.
	}
}

// prepare reads what the group touches, applies its requests in order, and
// returns the pull requests to write and the commit script's arguments
// (nil when nothing is to be written). It resets and sets every request's
// dup and out; a request that fails alone gets its err and makes prepare
// return errAgain, so that the attempt starts again without it.
func (s *Store) prepare(ctx context.Context, group []*writeReq) (string, []*pending, []any, error) {
	// The distinct delivery ids and pull requests, in first-seen order.
	var ids []string
	var keys []gatekeeper.PullKey
	seenID := map[string]bool{}
	seenKey := map[gatekeeper.PullKey]bool{}
	for _, req := range group {
		req.dup, req.out = false, nil
		if req.err != nil {
			continue
		}
		if req.delivery != "" && !seenID[req.delivery] {
			seenID[req.delivery] = true
			ids = append(ids, req.delivery)
		}
		for _, k := range req.keys {
			if !seenKey[k] {
				seenKey[k] = true
				keys = append(keys, k)
			}
		}
	}
	dups, tokens, evs, logs, err := s.read(ctx, ids, keys, true)
	if err != nil {
		return "", nil, nil, err
	}
	byKey := map[gatekeeper.PullKey]*pending{}
	var order []*pending
	var newIDs []string
	for _, req := range group {
		if req.err != nil {
			continue
		}
		if req.delivery != "" && dups[req.delivery] {
			req.dup = true
			continue
		}
		if req.update && evs[req.keys[0]] == nil && byKey[req.keys[0]] == nil {
			req.err = gatekeeper.ErrNotFound
			continue
		}
		for _, k := range req.keys {
			p := byKey[k]
			if p == nil {
				p = &pending{key: k, expect: tokens[k], ev: evs[k], stored: logs[k]}
				if p.ev == nil {
					p.ev = &gatekeeper.Evidence{Key: k}
					p.stored.apart = true // nothing stored: nothing to rewrite
				}
				byKey[k] = p
				order = append(order, p)
			}
			if err := applyTo(p.ev, k, req.apply); err != nil {
				req.err = err
				return "", nil, nil, errAgain
			}
			p.queue = p.queue || !req.update
		}
		if req.update {
			req.out = byKey[req.keys[0]].ev.Clone()
		}
		if req.delivery != "" {
			dups[req.delivery] = true // a later request of the group with it is a duplicate
			newIDs = append(newIDs, req.delivery)
		}
	}
	if len(order) == 0 && len(newIDs) == 0 {
		return "", nil, nil, nil
	}
	cid := s.nonce + strconv.FormatUint(s.tokens.Add(1), 36)
	args := []any{s.prefix, cid, micros(s.clock.Now()), len(newIDs)}
	for _, id := range newIDs {
		args = append(args, id)
	}
	args = append(args, len(order))
	for _, p := range order {
		head := evidenceHead{Evidence: *p.ev, LogApart: true}
		head.Log = nil
		data, err := json.Marshal(&head)
		if err != nil {
			return "", nil, nil, fmt.Errorf("encoding evidence of %s: %w", p.key, err)
		}
		heads := headSHAs(p.ev)
		queue := "0"
		if p.queue {
			queue = "1"
		}
		p.written = s.token(p.ev.Version)
		args = append(args, p.key.String(), p.expect, p.written, string(data), queue, len(heads))
		for _, h := range heads {
			args = append(args, h)
		}
		terms := gatekeeper.IndexTerms(p.ev)
		args = append(args, len(terms))
		for _, t := range terms {
			args = append(args, t)
		}
		mode, drop, kept := "replace", 0, 0
		if p.stored.apart {
			mode = "append"
			drop, kept = gatekeeper.LogAppended(p.stored.log, p.ev.Log)
		}
		added := p.ev.Log[kept:]
		args = append(args, mode, drop, len(added))
		for _, l := range added {
			entry, err := json.Marshal(l)
			if err != nil {
				return "", nil, nil, fmt.Errorf("encoding a log entry of %s: %w", p.key, err)
			}
			args = append(args, string(entry))
		}
	}
	var settles []*writeReq
	for _, req := range group {
		if req.err == nil && req.settle != nil {
			settles = append(settles, req)
		}
	}
	args = append(args, len(settles))
	for _, req := range settles {
		args = append(args, req.keys[0].String(), req.settle.decision, gatekeeper.MaxDecisions, req.settle.gen)
	}
	return cid, order, args, nil
}

// cacheGroup caches what a group wrote, under the tokens it wrote.
func (s *Store) cacheGroup(pulls []*pending) {
	for _, p := range pulls {
		s.cache.put(p.key, p.written, p.ev, true)
	}
}

// read returns, in one consistent view, which ids were seen and the token,
// evidence and, for a write (forWrite), stored log of each key (nil
// evidence when absent). Evidence comes from the cache when it holds the
// stored token.
func (s *Store) read(ctx context.Context, ids []string, keys []gatekeeper.PullKey, forWrite bool) (map[string]bool, map[gatekeeper.PullKey]string, map[gatekeeper.PullKey]*gatekeeper.Evidence, map[gatekeeper.PullKey]storedLog, error) {
	args := []any{s.prefix, len(ids)}
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, len(keys))
	cached := make([]*entry, len(keys))
	for i, k := range keys {
		c := s.cache.get(k)
		cached[i] = c
		tok := ""
		if c != nil {
			tok = c.token
		}
		args = append(args, k.String(), tok)
	}
	reply, err := readScript.Run(ctx, s.rdb, nil, args...).Slice()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("reading from redis: %w", err)
	}
	if len(reply) != len(ids)+3*len(keys) {
		return nil, nil, nil, nil, fmt.Errorf("reading from redis: %d values in the reply, want %d", len(reply), len(ids)+3*len(keys))
	}
	dups := make(map[string]bool, len(ids))
	for i, id := range ids {
		n, _ := reply[i].(int64)
		dups[id] = n == 1
	}
	tokens := make(map[gatekeeper.PullKey]string, len(keys))
	evs := make(map[gatekeeper.PullKey]*gatekeeper.Evidence, len(keys))
	logs := make(map[gatekeeper.PullKey]storedLog, len(keys))
	for i, k := range keys {
		tok, _ := reply[len(ids)+3*i].(string)
		data, _ := reply[len(ids)+3*i+1].(string)
		entries, _ := reply[len(ids)+3*i+2].(string)
		tokens[k] = tok
		switch {
		case tok == "":
		case data == "" && cached[i] != nil && cached[i].token == tok:
			evs[k] = cached[i].ev // a copy: get copies
			logs[k] = cached[i].stored
		case data == "":
			return nil, nil, nil, nil, fmt.Errorf("reading evidence of %s: version %s has no evidence", k, tok)
		default:
			ev, stored, err := decodeEvidence(data, entries, forWrite)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("decoding evidence of %s: %w", k, err)
			}
			evs[k] = ev
			logs[k] = stored
			s.cache.put(k, tok, ev, stored.apart)
		}
	}
	return dups, tokens, evs, logs, nil
}

// decodeEvidence decodes the evidence's JSON and, when the JSON says its
// log is kept apart, the log's entries (their JSON joined by commas). For
// a write (forWrite) the stored log is a copy of the log: the caller may
// change the entries of ev.Log.
func decodeEvidence(data, entries string, forWrite bool) (*gatekeeper.Evidence, storedLog, error) {
	var head evidenceHead
	if err := json.Unmarshal([]byte(data), &head); err != nil {
		return nil, storedLog{}, err
	}
	ev := &head.Evidence
	if head.LogApart && entries != "" {
		buf := make([]byte, 0, len(entries)+2)
		buf = append(append(append(buf, '['), entries...), ']')
		if err := json.Unmarshal(buf, &ev.Log); err != nil {
			return nil, storedLog{}, fmt.Errorf("decoding the log: %w", err)
		}
	}
	stored := storedLog{apart: head.LogApart}
	if forWrite {
		stored.log = slices.Clone(ev.Log)
	}
	return ev, stored, nil
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

// headSHAs lists the distinct head shas of ev.
func headSHAs(ev *gatekeeper.Evidence) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range ev.Heads {
		if h.SHA != "" && !seen[h.SHA] {
			seen[h.SHA] = true
			out = append(out, h.SHA)
		}
	}
	return out
}

// micros is t in microseconds since 1970, the score of a delivery: exact in
// a float64 (Redis scores) until the year 2255.
func micros(t time.Time) string {
	return strconv.FormatInt(t.UnixMicro(), 10)
}
