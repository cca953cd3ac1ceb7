package gatekeepertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// policies is the Store's policy archive, kept as JSON like the real
// stores keep it.
type policies struct {
	mu   sync.Mutex
	revs map[string][]byte
}

var archives sync.Map // *Store → *policies

func (s *Store) archive() *policies {
	p, _ := archives.LoadOrStore(s, &policies{revs: map[string][]byte{}})
	return p.(*policies)
}

// SavePolicy implements gatekeeper.PolicyArchive.
func (s *Store) SavePolicy(ctx context.Context, rev gatekeeper.PolicyRevision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(rev.Revision) < gatekeeper.RevisionLen {
		return fmt.Errorf("saving policy revision %q: too short: %w", rev.Revision, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rev)
	if err != nil {
		return err
	}
	p := s.archive()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.revs[rev.Short()]; !ok {
		p.revs[rev.Short()] = data
	}
	return nil
}

// Policy implements gatekeeper.PolicyArchive.
func (s *Store) Policy(ctx context.Context, revision string) (gatekeeper.PolicyRevision, error) {
	var rev gatekeeper.PolicyRevision
	if err := ctx.Err(); err != nil {
		return rev, err
	}
	p := s.archive()
	p.mu.Lock()
	data, ok := p.revs[gatekeeper.ShortRevision(revision)]
	p.mu.Unlock()
	if !ok || len(revision) < gatekeeper.RevisionLen {
		return rev, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	if err := json.Unmarshal(data, &rev); err != nil {
		return rev, err
	}
	if !strings.HasPrefix(rev.Revision, revision) {
		return gatekeeper.PolicyRevision{}, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	return rev, nil
}
