package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// SavePolicy keeps rev under its short revision ("{prefix}:policy:<rev>");
// a revision kept already is left as it is (SET NX). Revisions are never
// expired: a decision must stay replayable as long as it is kept.
func (s *Store) SavePolicy(ctx context.Context, rev gatekeeper.PolicyRevision) error {
	if len(rev.Revision) < gatekeeper.RevisionLen {
		return fmt.Errorf("saving policy revision %q: too short: %w", rev.Revision, gatekeeper.ErrInvalid)
	}
	data, err := json.Marshal(rev)
	if err != nil {
		return fmt.Errorf("encoding policy revision %s: %w", rev.Short(), err)
	}
	if err := s.rdb.SetNX(ctx, s.key("policy", rev.Short()), data, 0).Err(); err != nil {
		return fmt.Errorf("saving policy revision %s: %w", rev.Short(), err)
	}
	return nil
}

// Policy returns the revision a short or full revision names.
func (s *Store) Policy(ctx context.Context, revision string) (gatekeeper.PolicyRevision, error) {
	var rev gatekeeper.PolicyRevision
	if len(revision) < gatekeeper.RevisionLen {
		return rev, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	data, err := s.rdb.Get(ctx, s.key("policy", gatekeeper.ShortRevision(revision))).Bytes()
	if errors.Is(err, redis.Nil) {
		return rev, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	if err != nil {
		return rev, fmt.Errorf("loading policy revision %s: %w", revision, err)
	}
	if err := json.Unmarshal(data, &rev); err != nil {
		return rev, fmt.Errorf("decoding policy revision %s: %w", revision, err)
	}
	if !strings.HasPrefix(rev.Revision, revision) {
		return gatekeeper.PolicyRevision{}, fmt.Errorf("policy revision %s: %w", revision, gatekeeper.ErrNotFound)
	}
	return rev, nil
}
