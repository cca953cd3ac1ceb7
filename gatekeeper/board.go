package gatekeeper

import (
	"context"
	"fmt"
	"sort"
)

// OpenPulls returns the view of every open pull request into a gated base
// branch that the store has evidence for (the release pull requests the
// GO/NOGO board lists), each with up to history decision records, ordered
// by repository and number. A pull request whose evidence cannot be read
// is an error: the board must not silently leave a release out.
func (s *Service) OpenPulls(ctx context.Context, history int) ([]*PullView, error) {
	keys, err := s.o.Store.Pulls(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing pull requests: %w", err)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Owner+"/"+a.Repo != b.Owner+"/"+b.Repo {
			return a.Owner+"/"+a.Repo < b.Owner+"/"+b.Repo
		}
		return a.Number < b.Number
	})
	var out []*PullView
	for _, k := range keys {
		v, err := s.Pull(ctx, k, history)
		if err != nil {
			return nil, err
		}
		if s.OpenGated(v.Evidence) {
			out = append(out, v)
		}
	}
	return out, nil
}

// OpenGated reports whether ev is of an open, unmerged pull request into a
// gated base branch: one the board lists.
func (s *Service) OpenGated(ev *Evidence) bool {
	pr := ev.PR
	return pr != nil && pr.State == "open" && !pr.Merged && s.o.Gated.GatedBase(pr.BaseRef)
}
