package gatekeeper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// Discoverer finds pull requests GitHub has and the gatekeeper may never
// have heard of: GitHub does not deliver a failed webhook again by itself,
// so a release pull request whose opened delivery was lost would otherwise
// go ungated, and a status set by hand on its head would stand.
// githubapi.Client implements it.
type Discoverer interface {
	// OpenPulls lists the open pull requests of owner/repo into base.
	OpenPulls(ctx context.Context, owner, repo, base string) ([]PullKey, error)
	// PullsWithHead lists the open pull requests of owner/repo whose head
	// is sha.
	PullsWithHead(ctx context.Context, owner, repo, sha string) ([]PullKey, error)
}

// EventDiscovered is the event that starts tracking a pull request found
// by a Discoverer; the sources then read what it is.
const EventDiscovered = "pull_request.discovered"

// maxLookups bounds the commits waiting to be looked up: a flood of
// statuses on unknown commits costs at most this many calls a round.
const maxLookups = 64

// repoRef is a repository by name, as the discoverer asks GitHub.
type repoRef struct{ owner, name string }

// discovery is what the Service remembers for its Discoverer: the
// repositories it has seen events of, and the commits that got a status
// in its own context while no known pull request had them as head.
type discovery struct {
	mu      sync.Mutex
	repos   map[repoRef]bool
	lookups map[repoRef]map[string]bool
	wake    chan struct{}
	// listed says when each repository's open pull requests were last
	// asked for, as a count of the asks: the round lists the longest
	// unasked first, so that one GitHub never answering for a repository
	// (it is asked last from then on) does not keep the others unlisted.
	listed map[repoRef]uint64
	asks   uint64
}

func newDiscovery() *discovery {
	return &discovery{repos: map[repoRef]bool{}, lookups: map[repoRef]map[string]bool{}, wake: make(chan struct{}, 1),
		listed: map[repoRef]uint64{}}
}

// order returns repos, the longest unlisted first, and forgets the
// repositories no longer among them.
func (d *discovery) order(repos map[repoRef]bool) []repoRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]repoRef, 0, len(repos))
	for r := range repos {
		out = append(out, r)
	}
	for r := range d.listed {
		if !repos[r] {
			delete(d.listed, r)
		}
	}
	slices.SortFunc(out, func(a, b repoRef) int {
		if c := cmp.Compare(d.listed[a], d.listed[b]); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.name, b.name))
	})
	return out
}

// asked records that r's open pull requests are being asked for.
func (d *discovery) asked(r repoRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asks++
	d.listed[r] = d.asks
}

// saw remembers a repository an event named, so that discovery lists its
// open pull requests.
func (d *discovery) saw(r *Repo) {
	if r == nil || r.Owner == "" || r.Name == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.repos) < 4096 {
		d.repos[repoRef{r.Owner, r.Name}] = true
	}
}

// lookup asks for the pull requests of sha in r to be found, soon and
// off the webhook's path.
func (d *discovery) lookup(r *Repo, sha string) {
	d.mu.Lock()
	ref := repoRef{r.Owner, r.Name}
	n := 0
	for _, m := range d.lookups {
		n += len(m)
	}
	if n < maxLookups {
		if d.lookups[ref] == nil {
			d.lookups[ref] = map[string]bool{}
		}
		d.lookups[ref][sha] = true
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// take returns the commits waiting to be looked up and forgets them.
func (d *discovery) take() map[repoRef]map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.lookups
	d.lookups = map[repoRef]map[string]bool{}
	return out
}

// known returns the repositories seen.
func (d *discovery) known() []repoRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]repoRef, 0, len(d.repos))
	for r := range d.repos {
		out = append(out, r)
	}
	return out
}

// lookUp finds the pull requests of the commits that got a status in the
// gatekeeper's context while no known pull request had them as head, and
// starts gating them.
func (s *Service) lookUp(ctx context.Context) {
	if s.o.Discoverer == nil {
		return
	}
	// Commits asked about while this round runs are taken by the next.
	for {
		batch := s.disc.take()
		if len(batch) == 0 {
			return
		}
		s.lookUpBatch(ctx, batch)
	}
}

// lookUpBatch looks up one round of commits.
func (s *Service) lookUpBatch(ctx context.Context, batch map[repoRef]map[string]bool) {
	for r, shas := range batch {
		for sha := range shas {
			keys, err := s.o.Discoverer.PullsWithHead(ctx, r.owner, r.name, sha)
			if err != nil {
				s.log.WarnContext(ctx, "looking up the pull requests of a commit", "repo", r.owner+"/"+r.name, "sha", sha, "err", err)
				continue
			}
			for _, k := range keys {
				if err := s.adopt(ctx, k); err != nil {
					s.log.ErrorContext(ctx, "gating a pull request found by its commit", "pr", k.String(), "err", err)
				}
			}
		}
	}
}

// discover runs one discovery round (discoverOpen) within one Reconcile
// period: the reconcile timer asks for it, and it runs beside the timer,
// never before its next tick. A repository GitHub has not listed by then
// is asked first in the next round.
func (s *Service) discover(ctx context.Context) {
	if s.o.Discoverer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Reconcile)
	defer cancel()
	keys, err := s.o.Store.Pulls(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "listing pull requests to discover others", "err", err)
		return
	}
	if err := s.discoverOpen(ctx, keys); err != nil {
		s.log.WarnContext(ctx, "discovering open pull requests", "err", err)
	}
}

// discoverOpen lists the open pull requests into every gated base of every
// repository the gatekeeper knows (from stored pull requests and from
// events), and starts gating those it has not heard of. It stops when ctx
// ends, naming how many repositories it did not list.
func (s *Service) discoverOpen(ctx context.Context, stored []PullKey) error {
	if s.o.Discoverer == nil {
		return nil
	}
	have := make(map[PullKey]bool, len(stored))
	repos := map[repoRef]bool{}
	for _, k := range stored {
		have[k] = true
		repos[repoRef{k.Owner, k.Repo}] = true
	}
	for _, r := range s.disc.known() {
		repos[r] = true
	}
	bases := map[string]bool{}
	for _, p := range s.o.Gated {
		bases[p.Base] = true
	}
	var errs []error
	order := s.disc.order(repos)
	for i, r := range order {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%d of %d repositories not listed: %w", len(order)-i, len(order), ctx.Err()))
			break
		}
		s.disc.asked(r)
		for base := range bases {
			keys, err := s.o.Discoverer.OpenPulls(ctx, r.owner, r.name, base)
			if err != nil {
				errs = append(errs, err)
			}
			for _, k := range keys {
				if have[k] {
					continue
				}
				if err := s.adopt(ctx, k); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// adopt starts tracking a pull request the gatekeeper found on GitHub, as
// its lost opened delivery would have: the GitHub source reads it at its
// evaluation, and one into a base nothing gates is forgotten there.
func (s *Service) adopt(ctx context.Context, k PullKey) error {
	now := s.o.Clock.Now()
	e := Event{Name: EventDiscovered, Key: k, Received: now,
		Delivery: "discovered:" + k.String() + ":" + strconv.FormatInt(now.UnixNano(), 10)}
	out, err := s.Accept(ctx, e)
	if err != nil {
		return fmt.Errorf("gating %s: %w", k, err)
	}
	if out == Accepted {
		s.log.InfoContext(ctx, "gating a pull request GitHub has and no webhook brought", "pr", k.String())
	}
	return nil
}
