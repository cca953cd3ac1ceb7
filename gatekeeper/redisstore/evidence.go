package redisstore

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Evidence returns the evidence of key, or an error wrapping ErrNotFound.
func (s *Store) Evidence(ctx context.Context, key gatekeeper.PullKey) (*gatekeeper.Evidence, error) {
	_, _, evs, _, err := s.read(ctx, nil, []gatekeeper.PullKey{key}, false)
	if err != nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, err)
	}
	ev := evs[key]
	if ev == nil {
		return nil, fmt.Errorf("loading evidence of %s: %w", key, gatekeeper.ErrNotFound)
	}
	return ev, nil
}

// Pulls lists every pull request with evidence, in key order.
func (s *Store) Pulls(ctx context.Context) ([]gatekeeper.PullKey, error) {
	fields, err := s.rdb.HKeys(ctx, s.key("ver")).Result()
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	out, err := parseKeys(fields)
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	return out, nil
}

// PullsForSHA lists the pull requests whose head has ever been sha, in key
// order.
func (s *Store) PullsForSHA(ctx context.Context, sha string) ([]gatekeeper.PullKey, error) {
	if sha == "" {
		return nil, nil
	}
	fields, err := s.rdb.SMembers(ctx, s.key("head", sha)).Result()
	if err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	out, err := parseKeys(fields)
	if err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	return out, nil
}

// PullsIndexed lists, in key order and once each, the pull requests
// indexed under any of terms.
func (s *Store) PullsIndexed(ctx context.Context, terms ...string) ([]gatekeeper.PullKey, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	keys := make([]string, len(terms))
	for i, t := range terms {
		keys[i] = s.key("idx", t)
	}
	fields, err := s.rdb.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("finding pull requests under %q: %w", terms, err)
	}
	out, err := parseKeys(fields)
	if err != nil {
		return nil, fmt.Errorf("finding pull requests under %q: %w", terms, err)
	}
	return out, nil
}

// parseKeys parses PullKey strings and sorts them.
func parseKeys(fields []string) ([]gatekeeper.PullKey, error) {
	sort.Strings(fields)
	out := make([]gatekeeper.PullKey, 0, len(fields))
	for _, f := range fields {
		k, err := gatekeeper.ParsePullKey(f)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// maxCached bounds the cache; gated release pull requests are few.
const maxCached = 256

// evidenceCache holds decoded evidence by pull request, under the version
// token it was stored with. It is never the source of truth: the read
// script sends the evidence whenever the stored token differs from the
// cached one. It saves moving and decoding a busy pull request's evidence
// (tens of kilobytes of JSON) on every webhook and every evaluation.
type evidenceCache struct {
	mu sync.Mutex
	m  map[gatekeeper.PullKey]*entry
}

// entry is one cached evidence, the token it was stored under, and its
// log as stored (never changed: it stands for the stored log).
type entry struct {
	token  string
	ev     *gatekeeper.Evidence
	stored storedLog
}

// get returns a copy of the entry for key, or nil.
func (c *evidenceCache) get(key gatekeeper.PullKey) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return nil
	}
	return &entry{token: e.token, ev: e.ev.Clone(), stored: e.stored}
}

// put caches a copy of ev, stored under token, its log apart or not.
func (c *evidenceCache) put(key gatekeeper.PullKey, token string, ev *gatekeeper.Evidence, apart bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[gatekeeper.PullKey]*entry{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxCached {
		for k := range c.m { // drop any one: a miss only costs a transfer and a decode
			delete(c.m, k)
			break
		}
	}
	cp := ev.Clone()
	c.m[key] = &entry{token: token, ev: cp, stored: storedLog{apart: apart, log: cp.Log}}
}
