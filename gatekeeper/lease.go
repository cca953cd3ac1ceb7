package gatekeeper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Leaser hands out leases on pull requests, so that of several replicas
// sharing one store only one evaluates a pull request at a time. A lease
// expires unless renewed: a replica that dies or pauses loses it, and
// another replica takes the work over.
//
// Every lease comes with a fencing token, larger than every token given
// for any pull request before it. A holder checks that its token is still
// the live one (Renew or Fenced) right before each step that leaves a mark
// others see (a decision record, a commit status): a replica that was
// paused past its lease and wakes up late is refused, because somebody
// else took a newer token meanwhile.
//
// redisstore implements it for replicas on one Redis; boltstore (one
// process per file) with LocalLeases. A Store that is no Leaser gets
// LocalLeases from the Service.
type Leaser interface {
	// Acquire takes the lease on key for owner for ttl when nobody holds
	// it or its holder's lease expired, and returns its fencing token.
	// ok is false, and token 0, while another lease on key is live.
	Acquire(ctx context.Context, key PullKey, owner string, ttl time.Duration) (token uint64, ok bool, err error)
	// Renew extends the lease (owner, token) on key to ttl from now, and
	// reports false when that lease is no longer live: expired, released
	// or taken over.
	Renew(ctx context.Context, key PullKey, owner string, token uint64, ttl time.Duration) (bool, error)
	// Release gives the lease (owner, token) up; it does nothing when
	// that lease is no longer live.
	Release(ctx context.Context, key PullKey, owner string, token uint64) error
	// Fenced reports whether token is the token of the live lease on key.
	Fenced(ctx context.Context, key PullKey, token uint64) (bool, error)
}

// NamedLeaser is a Leaser's lease on anything named by a string rather
// than a pull request: "commit:<owner>/<repo>@<sha>" while a status is
// posted on a commit (two pull requests may share it), "reconciler" for
// the one replica that runs the reconcile timer. The rules are Leaser's;
// tokens come from the same sequence, and a name never meets a PullKey's
// lease.
type NamedLeaser interface {
	AcquireName(ctx context.Context, name, owner string, ttl time.Duration) (token uint64, ok bool, err error)
	RenewName(ctx context.Context, name, owner string, token uint64, ttl time.Duration) (bool, error)
	ReleaseName(ctx context.Context, name, owner string, token uint64) error
	FencedName(ctx context.Context, name string, token uint64) (bool, error)
}

// NamedLeaseField is the field a store keeps the lease called name under:
// "n:" and the name, which no PullKey's String (owner/repo#number, where
// an owner has no colon) is.
func NamedLeaseField(name string) string { return "n:" + name }

// ErrLeaseLost is returned by an evaluation whose lease expired or was
// taken over before it could record or publish: what it would have said is
// older than what the newer holder says.
var ErrLeaseLost = errors.New("lease on the pull request lost")

// errBusy is returned by an evaluation that found another replica holding
// the pull request's lease.
var errBusy = errors.New("pull request is being evaluated by another replica")

// LocalLeases is a Leaser in memory, for a store that one process alone
// uses. Its expiry follows its Clock.
type LocalLeases struct {
	clock Clock

	mu    sync.Mutex
	seq   uint64
	held  map[string]localLease // by PullKey.String or NamedLeaseField
	calls int                   // since the last sweep of expired leases
}

type localLease struct {
	owner   string
	token   uint64
	expires time.Time
}

var (
	_ Leaser      = (*LocalLeases)(nil)
	_ NamedLeaser = (*LocalLeases)(nil)
)

// NewLocalLeases returns an empty LocalLeases on clock (SystemClock when nil).
func NewLocalLeases(clock Clock) *LocalLeases {
	if clock == nil {
		clock = SystemClock{}
	}
	return &LocalLeases{clock: clock, held: map[string]localLease{}}
}

// live returns key's lease when it has not expired. l.mu is held.
func (l *LocalLeases) live(key string, now time.Time) (localLease, bool) {
	h, ok := l.held[key]
	if !ok || !now.Before(h.expires) {
		return localLease{}, false
	}
	return h, true
}

// Acquire implements Leaser.
func (l *LocalLeases) Acquire(_ context.Context, key PullKey, owner string, ttl time.Duration) (uint64, bool, error) {
	return l.acquire(key.String(), owner, ttl)
}

// Renew implements Leaser.
func (l *LocalLeases) Renew(_ context.Context, key PullKey, owner string, token uint64, ttl time.Duration) (bool, error) {
	return l.renew(key.String(), owner, token, ttl), nil
}

// Release implements Leaser.
func (l *LocalLeases) Release(_ context.Context, key PullKey, owner string, token uint64) error {
	l.release(key.String(), owner, token)
	return nil
}

// Fenced implements Leaser.
func (l *LocalLeases) Fenced(_ context.Context, key PullKey, token uint64) (bool, error) {
	return l.fenced(key.String(), token), nil
}

// AcquireName implements NamedLeaser.
func (l *LocalLeases) AcquireName(_ context.Context, name, owner string, ttl time.Duration) (uint64, bool, error) {
	return l.acquire(NamedLeaseField(name), owner, ttl)
}

// RenewName implements NamedLeaser.
func (l *LocalLeases) RenewName(_ context.Context, name, owner string, token uint64, ttl time.Duration) (bool, error) {
	return l.renew(NamedLeaseField(name), owner, token, ttl), nil
}

// ReleaseName implements NamedLeaser.
func (l *LocalLeases) ReleaseName(_ context.Context, name, owner string, token uint64) error {
	l.release(NamedLeaseField(name), owner, token)
	return nil
}

// FencedName implements NamedLeaser.
func (l *LocalLeases) FencedName(_ context.Context, name string, token uint64) (bool, error) {
	return l.fenced(NamedLeaseField(name), token), nil
}

func (l *LocalLeases) acquire(key, owner string, ttl time.Duration) (uint64, bool, error) {
	if ttl <= 0 {
		return 0, false, fmt.Errorf("leasing %s: ttl %s is not positive: %w", key, ttl, ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if l.calls++; l.calls > 1024 {
		l.calls = 0
		for k, h := range l.held {
			if !now.Before(h.expires) {
				delete(l.held, k)
			}
		}
	}
	if _, ok := l.live(key, now); ok {
		return 0, false, nil
	}
	l.seq++
	l.held[key] = localLease{owner: owner, token: l.seq, expires: now.Add(ttl)}
	return l.seq, true, nil
}

func (l *LocalLeases) renew(key, owner string, token uint64, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	h, ok := l.live(key, now)
	if !ok || h.owner != owner || h.token != token {
		return false
	}
	h.expires = now.Add(ttl)
	l.held[key] = h
	return true
}

func (l *LocalLeases) release(key, owner string, token uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[key]; ok && h.owner == owner && h.token == token {
		delete(l.held, key)
	}
}

func (l *LocalLeases) fenced(key string, token uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.live(key, l.clock.Now())
	return ok && h.token == token
}

// lease is one evaluation's hold on its pull request. It is renewed in
// the background every ttl/3 while the evaluation runs; its context ends
// (cause ErrLeaseLost) when a renewal is refused or when the lease may
// have expired by this process's clock, so that a replica that was paused
// stops what it was doing as soon as it runs again.
type lease struct {
	s     *Service
	key   PullKey
	token uint64
	ttl   time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	until time.Time // when the lease ends at the latest, by time.Now
	stop  chan struct{}
	done  chan struct{}
}

type leaseCtxKey struct{}

// acquire takes key's lease for this replica and starts renewing it. It
// returns errBusy when another replica holds it.
func (s *Service) acquire(ctx context.Context, key PullKey) (*lease, error) {
	sent := time.Now()
	token, ok, err := s.o.Leaser.Acquire(ctx, key, s.o.ReplicaID, s.o.LeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("leasing %s: %w", key, err)
	}
	if !ok {
		return nil, errBusy
	}
	l := &lease{s: s, key: key, token: token, ttl: s.o.LeaseTTL, until: sent.Add(s.o.LeaseTTL),
		stop: make(chan struct{}), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(ctx)
	l.ctx = context.WithValue(l.ctx, leaseCtxKey{}, l)
	go l.renewing()
	return l, nil
}

// margin is how long before the lease's end by this process's clock the
// lease is taken for lost: time for a request to leave, and for clocks
// that run a little apart.
func (l *lease) margin() time.Duration { return l.ttl / 10 }

// renewing renews the lease every ttl/3 until end, and cancels the
// lease's context when a renewal is refused or the lease runs out.
func (l *lease) renewing() {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	expire := time.NewTimer(time.Until(l.deadline()))
	defer expire.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-expire.C:
			if time.Now().Before(l.deadline()) {
				expire.Reset(time.Until(l.deadline()))
				continue
			}
			l.lose("renew")
			return
		case <-tick.C:
			ok, err := l.renew(l.ctx)
			if err != nil {
				l.s.log.WarnContext(l.ctx, "renewing a lease", "pr", l.key.String(), "token", l.token, "err", err)
				continue // it may still be live; the timer says when not
			}
			if !ok {
				l.lose("renew")
				return
			}
			expire.Reset(time.Until(l.deadline()))
		}
	}
}

// deadline is when the lease is taken for lost unless renewed.
func (l *lease) deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until.Add(-l.margin())
}

// renew extends the lease by ttl and reports whether it was still live.
func (l *lease) renew(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl/3)
	defer cancel()
	sent := time.Now()
	ok, err := l.s.o.Leaser.Renew(ctx, l.key, l.s.o.ReplicaID, l.token, l.ttl)
	if err != nil || !ok {
		return ok, err
	}
	l.mu.Lock()
	if u := sent.Add(l.ttl); u.After(l.until) {
		l.until = u
	}
	l.mu.Unlock()
	return true, nil
}

// lose records that the lease is gone and stops the evaluation.
func (l *lease) lose(step string) {
	if l.ctx.Err() != nil {
		return
	}
	l.s.log.WarnContext(l.ctx, "lease lost: not writing what may be an older decision", "pr", l.key.String(),
		"token", l.token, "step", step, "replica", l.s.o.ReplicaID)
	l.s.leaseLost(step)
	l.cancel(ErrLeaseLost)
}

// lost reports whether the lease was lost.
func (l *lease) lost() bool { return errors.Is(context.Cause(l.ctx), ErrLeaseLost) }

// end stops renewing and gives the lease up.
func (l *lease) end() {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), l.ttl/3)
	defer cancel()
	if err := l.s.o.Leaser.Release(ctx, l.key, l.s.o.ReplicaID, l.token); err != nil {
		l.s.log.WarnContext(ctx, "releasing a lease", "pr", l.key.String(), "token", l.token, "err", err)
	}
	l.cancel(context.Canceled)
}

// fenced checks, right before step (recording a decision, posting a
// status), that the evaluation running in ctx still holds the live lease
// on its pull request: it renews the lease, so that it is good for a whole
// ttl from now, and returns an error wrapping ErrLeaseLost when it is not
// the holder's any more. A newer holder's word stands; this one's may be
// older. Without a lease in ctx it returns nil.
func (s *Service) fenced(ctx context.Context, step string) error {
	l, _ := ctx.Value(leaseCtxKey{}).(*lease)
	if l == nil {
		return nil
	}
	ok, err := l.renew(ctx)
	if err != nil {
		return fmt.Errorf("checking the lease on %s before %s: %w", l.key, step, err)
	}
	if !ok {
		l.lose(step)
		return fmt.Errorf("%s for %s: %w", step, l.key, ErrLeaseLost)
	}
	return ctx.Err()
}

// leaseLost counts a step refused for a lost lease, when the Observer
// counts them.
func (s *Service) leaseLost(step string) {
	if o, ok := s.o.Observer.(LeaseObserver); ok {
		o.LeaseLost(step)
	}
}

// LeaseObserver is an Observer that also counts the steps (record,
// publish) an evaluation did not take because its lease was lost.
type LeaseObserver interface {
	LeaseLost(step string)
}

// DefaultLeaseTTL is Options.LeaseTTL's default.
const DefaultLeaseTTL = 10 * time.Second

// replicaID is host name, process id and a random suffix: unique among the
// replicas, and telling an SRE which pod held a lease.
func replicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gatekeeper"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
