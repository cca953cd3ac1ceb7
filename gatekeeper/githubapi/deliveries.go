package githubapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"
)

// Endpoint names of the delivery sweeper's calls (see Sweeper).
const (
	EndpointListHookDeliveries    = "list_hook_deliveries"
	EndpointRedeliverHookDelivery = "redeliver_hook_delivery"
)

// Defaults of SweeperOptions.
const (
	// DefaultSweepPages is 1,000 deliveries per hook and sweep, newest
	// first: far more than a sweep interval's worth.
	DefaultSweepPages = 10
	// DefaultSweepRedeliveries bounds the redeliveries asked per sweep,
	// so that a long outage heals over a few sweeps rather than in one
	// burst of content-creating requests.
	DefaultSweepRedeliveries = 50
	// DefaultSweepMaxAge is how far back a sweep looks: GitHub keeps
	// deliveries for 3 days.
	DefaultSweepMaxAge = 72 * time.Hour
)

// Hook is a repository webhook: GATEKEEPER_GITHUB_HOOKS=owner/repo=hook_id.
type Hook struct {
	Owner, Repo string
	ID          int64
}

func (h Hook) String() string { return fmt.Sprintf("%s/%s=%d", h.Owner, h.Repo, h.ID) }

// SweeperOptions configure a Sweeper.
type SweeperOptions struct {
	// Hooks are the repository webhooks swept.
	Hooks []Hook
	// App sweeps the GitHub App's webhook (GET /app/hook/deliveries, with
	// the App's JWT) too; the Client must be in App mode.
	App bool
	// Seen reports whether the store already holds a delivery id; nil
	// means none is known, and only GitHub's own record of success skips
	// a delivery.
	Seen func(ctx context.Context, guid string) (bool, error)
	// MaxPages bounds the pages (100 deliveries each) read per hook and
	// sweep (default DefaultSweepPages).
	MaxPages int
	// MaxRedeliveries bounds the redeliveries asked per sweep, over all
	// hooks (default DefaultSweepRedeliveries).
	MaxRedeliveries int
	// MaxAge: older deliveries are not redelivered (default
	// DefaultSweepMaxAge).
	MaxAge time.Duration
	// Redelivered, when set, is called once per redelivery GitHub
	// accepted (cmd counts them).
	Redelivered func()
}

// Sweeper heals what GitHub failed to deliver: GitHub does not retry a
// delivery the gatekeeper did not answer with a 2xx (it was down, or timed
// out). Sweep lists the recent deliveries of each hook, newest first, and
// asks GitHub to redeliver those whose every attempt failed and whose
// delivery id (X-GitHub-Delivery, the GUID) the store does not hold. A
// redelivery carries the same GUID, so the receiver's dedupe holds even
// when a delivery that GitHub counts as failed was in fact recorded.
type Sweeper struct {
	c *Client
	o SweeperOptions
}

// NewSweeper returns a Sweeper on c.
func NewSweeper(c *Client, o SweeperOptions) *Sweeper {
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultSweepPages
	}
	if o.MaxRedeliveries <= 0 {
		o.MaxRedeliveries = DefaultSweepRedeliveries
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSweepMaxAge
	}
	return &Sweeper{c: c, o: o}
}

// SweepResult counts one sweep's work.
type SweepResult struct {
	Listed      int // deliveries read
	Failed      int // GUIDs whose every attempt failed
	Stored      int // of those, already in the store (not redelivered)
	Redelivered int // redeliveries GitHub accepted
}

// target is one hook to sweep: a repository's, or the App's (hook nil).
type target struct{ hook *Hook }

func (t target) String() string {
	if t.hook == nil {
		return "app"
	}
	return t.hook.String()
}

// Sweep runs one sweep over every hook. It returns the first error after
// having swept what it could.
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var first error
	targets := make([]target, 0, len(s.o.Hooks)+1)
	if s.o.App {
		targets = append(targets, target{})
	}
	for i := range s.o.Hooks {
		targets = append(targets, target{&s.o.Hooks[i]})
	}
	budget := s.o.MaxRedeliveries
	for _, t := range targets {
		if err := s.sweep(ctx, t, &res, &budget); err != nil && first == nil {
			first = fmt.Errorf("sweeping deliveries of hook %s: %w", t, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return res, first
}

func (s *Sweeper) sweep(ctx context.Context, t target, res *SweepResult, budget *int) error {
	var all []*github.HookDelivery
	oldest := s.c.clock.Now().Add(-s.o.MaxAge)
	opts := &github.ListCursorOptions{PerPage: perPage}
	for page := 0; page < s.o.MaxPages; page++ {
		var list []*github.HookDelivery
		var resp *github.Response
		err := s.c.do(ctx, EndpointListHookDeliveries, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var err error
			if t.hook == nil {
				list, resp, err = gh.Apps.ListHookDeliveries(ctx, opts)
			} else {
				list, resp, err = gh.Repositories.ListHookDeliveries(ctx, t.hook.Owner, t.hook.Repo, t.hook.ID, opts)
			}
			return resp, err
		})
		if err != nil {
			return err
		}
		res.Listed += len(list)
		tooOld := false
		for _, d := range list {
			if d.DeliveredAt != nil && d.DeliveredAt.Before(oldest) {
				tooOld = true
				continue
			}
			all = append(all, d)
		}
		if tooOld || resp == nil || resp.Cursor == "" || len(list) == 0 {
			break
		}
		opts.Cursor = resp.Cursor
	}
	// A GUID is settled when any of its attempts succeeded (a 2xx); else
	// its newest attempt (the list is newest first) is redelivered.
	settled := map[string]bool{}
	for _, d := range all {
		if code := d.GetStatusCode(); code >= 200 && code < 300 {
			settled[d.GetGUID()] = true
		}
	}
	var failed []*github.HookDelivery
	for _, d := range all {
		guid := d.GetGUID()
		if guid == "" || d.GetID() == 0 || settled[guid] {
			continue
		}
		settled[guid] = true
		failed = append(failed, d)
	}
	var first error
	for _, d := range failed {
		if *budget <= 0 || ctx.Err() != nil {
			return cmp.Or(ctx.Err(), first)
		}
		res.Failed++
		if s.o.Seen != nil {
			seen, err := s.o.Seen(ctx, d.GetGUID())
			if err != nil {
				return err
			}
			if seen {
				res.Stored++
				continue
			}
		}
		*budget--
		err := s.c.do(ctx, EndpointRedeliverHookDelivery, failOnLimits, func(gh *github.Client) (*github.Response, error) {
			var resp *github.Response
			var err error
			if t.hook == nil {
				_, resp, err = gh.Apps.RedeliverHookDelivery(ctx, d.GetID())
			} else {
				_, resp, err = gh.Repositories.RedeliverHookDelivery(ctx, t.hook.Owner, t.hook.Repo, t.hook.ID, d.GetID())
			}
			var accepted *github.AcceptedError
			if errors.As(err, &accepted) {
				err = nil // 202: GitHub queued the redelivery
			}
			return resp, err
		})
		if err != nil {
			// One delivery GitHub will not redeliver (a 422: too old,
			// gone) must not block the others; a rate limit or the end
			// of ctx stops the sweep.
			if errors.Is(err, ErrRateLimited) || ctx.Err() != nil {
				return err
			}
			if first == nil {
				first = fmt.Errorf("redelivering %s (delivery %d): %w", d.GetGUID(), d.GetID(), err)
			}
			continue
		}
		res.Redelivered++
		if s.o.Redelivered != nil {
			s.o.Redelivered()
		}
		s.c.log.InfoContext(ctx, "asked GitHub to redeliver a failed webhook delivery", "hook", t.String(),
			"delivery", d.GetGUID(), "event", d.GetEvent(), "status", d.GetStatus())
	}
	return first
}
