package opa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Evaluator = (*Engine)(nil)

// Engine evaluates the release policy of one policy folder. It is a
// gatekeeper.Evaluator. The zero value is not usable; use New or Load.
type Engine struct {
	dir    string
	logger *slog.Logger
	clock  gatekeeper.Clock

	// reloadMu serialises Reload, so that a manual reload and Watch
	// cannot interleave their read-compare-swap. Evaluate never takes it.
	reloadMu sync.Mutex
	// cur is never nil. It is replaced whole, never changed in place.
	cur atomic.Pointer[state]
}

// state is what the Engine serves: the last good prepared policy, and
// whether the folder currently holds something else that does not load.
type state struct {
	good   *prepared // nil until a revision loaded
	broken *broken   // nil when the folder holds good, or nothing yet tried
}

// prepared is one loaded revision. Its query is immutable and safe for
// concurrent evaluation.
type prepared struct {
	revision string // full hex sha256
	query    rego.PreparedEvalQuery
	files    []string
	loadedAt time.Time
	data     map[string]any // the data documents, read-only
}

// broken is a revision of the folder that did not load.
type broken struct {
	revision string // full hex sha256; "" when the folder could not be read
	err      error  // wraps gatekeeper.ErrPolicy
	at       time.Time
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the logger Watch reports reloads to (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(e *Engine) { e.logger = l }
}

// WithClock sets the clock that stamps loads and errors (default: system).
func WithClock(c gatekeeper.Clock) Option {
	return func(e *Engine) { e.clock = c }
}

// New returns an Engine for the policy folder dir with nothing loaded yet:
// it is not Ready and Evaluate fails until Reload succeeds.
func New(dir string, opts ...Option) *Engine {
	e := &Engine{
		dir:    dir,
		logger: slog.New(slog.DiscardHandler),
		clock:  gatekeeper.SystemClock{},
	}
	for _, o := range opts {
		o(e)
	}
	e.cur.Store(&state{})
	return e
}

// Load returns an Engine with the policy folder dir loaded. It always
// returns a usable Engine: when the folder does not load, the error says
// why (wrapping gatekeeper.ErrPolicy), the Engine is not Ready and its
// Evaluate fails, and a later Reload or Watch picks up the fix. The caller
// decides whether a broken policy at start-up is fatal.
func Load(ctx context.Context, dir string, opts ...Option) (*Engine, error) {
	e := New(dir, opts...)
	_, err := e.Reload(ctx)
	return e, err
}

// Reload re-reads the policy folder. When its content hash differs from
// the revision in force, the new revision is compiled, prepared and
// smoke-evaluated on an empty input, and swapped in only if all three
// succeed. changed reports whether what the Engine serves changed (a new
// revision in force, or the folder became broken or was fixed). err is
// non-nil, wrapping gatekeeper.ErrPolicy, whenever the folder's current
// content does not load, also when that was already known.
func (e *Engine) Reload(ctx context.Context) (changed bool, err error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.cur.Load()

	snap, err := readSnapshot(e.dir, false)
	if err != nil {
		return e.markBroken(old, "", err)
	}
	switch {
	case old.broken != nil && old.broken.revision == snap.revision:
		return false, old.broken.err
	case old.good != nil && old.good.revision == snap.revision:
		if old.broken == nil {
			return false, nil
		}
		// The folder went back to the revision in force.
		e.cur.Store(&state{good: old.good})
		return true, nil
	}

	p, err := e.prepare(ctx, snap)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted, not broken: try again next time.
			return false, fmt.Errorf("reloading policy folder %s: %w", e.dir, ctx.Err())
		}
		return e.markBroken(old, snap.revision, err)
	}
	e.cur.Store(&state{good: p})
	return true, nil
}

// markBroken records that revision (or an unreadable folder, revision "")
// does not load, keeping the last good revision in force.
func (e *Engine) markBroken(old *state, revision string, cause error) (bool, error) {
	what := "policy revision " + short(revision) + " does not load"
	if revision == "" {
		what = "policy folder unreadable"
	}
	err := policyErr(fmt.Errorf("%s: %w", what, cause))
	if b := old.broken; b != nil && b.revision == revision && b.err.Error() == err.Error() {
		return false, b.err
	}
	e.cur.Store(&state{good: old.good, broken: &broken{revision: revision, err: err, at: e.clock.Now()}})
	return true, err
}

// prepare compiles and prepares snap once, then proves the result usable
// with a smoke evaluation on an empty input: it must give a well-formed
// decision, and that decision must not be success, because a policy that
// passes a pull request it knows nothing about is open, not closed.
func (e *Engine) prepare(ctx context.Context, snap *snapshot) (*prepared, error) {
	q, data, err := snap.prepare(ctx)
	if err != nil {
		return nil, err
	}
	p := &prepared{revision: snap.revision, query: q, files: snap.names, loadedAt: e.clock.Now(), data: data}
	d, err := p.eval(ctx, map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("smoke evaluation on an empty input: %w", err)
	}
	if d.State == gatekeeper.Success {
		return nil, errors.New("smoke evaluation on an empty input: decision is success, want failure or pending (fail closed)")
	}
	return p, nil
}

// Evaluate returns the decision of the policy in force for input. While
// the folder holds a broken revision, it still evaluates the last good
// one, returns that decision for the record, and an error wrapping
// gatekeeper.ErrPolicy naming the broken revision and why it does not load.
// Before any revision loaded, it returns a zero Decision and such an error.
func (e *Engine) Evaluate(ctx context.Context, input map[string]any) (gatekeeper.Decision, error) {
	st := e.cur.Load()
	if st.good == nil {
		return gatekeeper.Decision{}, e.notLoaded(st)
	}
	d, err := st.good.eval(ctx, input)
	if err != nil {
		return d, err
	}
	if b := st.broken; b != nil {
		// b.err first: it becomes the status description, and what is
		// broken matters more than what the old revision said.
		return d, fmt.Errorf("%w; last good revision %s said %s", b.err, short(st.good.revision), d.State)
	}
	return d, nil
}

// eval evaluates the prepared query. The input goes in as an ast.Value
// built directly from the Go maps: rego.EvalInput would round-trip it
// through JSON first (compare BenchmarkEvaluate with BenchmarkRawPreparedQuery).
func (p *prepared) eval(ctx context.Context, input map[string]any) (gatekeeper.Decision, error) {
	if err := ctx.Err(); err != nil {
		return gatekeeper.Decision{}, fmt.Errorf("evaluating %s: %w", Query, err)
	}
	if input == nil {
		input = map[string]any{}
	}
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return gatekeeper.Decision{}, fmt.Errorf("converting policy input: %w: %w", gatekeeper.ErrInvalid, err)
	}
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		if ctx.Err() != nil {
			return gatekeeper.Decision{}, fmt.Errorf("evaluating %s: %w", Query, ctx.Err())
		}
		return gatekeeper.Decision{}, policyErr(fmt.Errorf("evaluating policy revision %s: %w", short(p.revision), err))
	}
	d, err := decode(rs)
	if err != nil {
		return gatekeeper.Decision{}, policyErr(fmt.Errorf("policy revision %s: %w", short(p.revision), err))
	}
	d.PolicyRevision = short(p.revision)
	return d, nil
}

// notLoaded explains why no revision is in force.
func (e *Engine) notLoaded(st *state) error {
	if st.broken != nil {
		return fmt.Errorf("no policy in force: %w", st.broken.err)
	}
	return policyErr(fmt.Errorf("no policy in force: %s not loaded yet", e.dir))
}

// policyError marks an error as gatekeeper.ErrPolicy without adding
// "policy error" to its text, which becomes a 140-character status
// description where every word counts.
type policyError struct{ err error }

func policyErr(err error) error { return &policyError{err: err} }

func (e *policyError) Error() string   { return e.err.Error() }
func (e *policyError) Unwrap() []error { return []error{e.err, gatekeeper.ErrPolicy} }

// Ready returns nil once a policy revision is in force. It stays nil when
// a later edit breaks the folder: the server must keep receiving webhooks
// and post "error" statuses, which a not-ready replica could not.
func (e *Engine) Ready() error {
	if st := e.cur.Load(); st.good == nil {
		return e.notLoaded(st)
	}
	return nil
}

// Revision returns the short content hash of the policy in force, or ""
// when none is.
func (e *Engine) Revision() string {
	if st := e.cur.Load(); st.good != nil {
		return short(st.good.revision)
	}
	return ""
}

// Status describes the Engine for /readyz and the details page.
type Status struct {
	Dir string `json:"dir"`
	// Revision is the short hash of the policy in force, "" if none.
	Revision string    `json:"revision"`
	Files    []string  `json:"files,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// BrokenRevision, LastError and ErrorAt describe the folder's current
	// content when it does not load; they are empty when it does.
	BrokenRevision string    `json:"broken_revision,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	ErrorAt        time.Time `json:"error_at,omitzero"`
}

// Healthy reports whether a revision is in force and the folder holds it.
func (s Status) Healthy() bool { return s.Revision != "" && s.LastError == "" }

// Status returns a snapshot of what the Engine serves.
func (e *Engine) Status() Status {
	st := e.cur.Load()
	s := Status{Dir: e.dir}
	if g := st.good; g != nil {
		s.Revision = short(g.revision)
		s.Files = append([]string(nil), g.files...)
		s.LoadedAt = g.loadedAt
	}
	if b := st.broken; b != nil {
		s.BrokenRevision = short(b.revision)
		s.LastError = b.err.Error()
		s.ErrorAt = b.at
	}
	return s
}

// Watch calls Reload every interval until ctx is done, so that release
// managers' edits take effect without a restart. It polls rather than
// watching file events: polling also sees ConfigMap symlink swaps and
// network file systems, and an unchanged folder costs one read and hash.
// It logs each change once: a new revision at info, a broken one at error.
func (e *Engine) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := e.Reload(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && changed:
			e.logger.Error("policy does not load; last good revision stays in force, statuses say error",
				"dir", e.dir, "revision", e.Revision(), "err", err)
		case changed:
			e.logger.Info("policy loaded", "dir", e.dir, "revision", e.Revision())
		}
	}
}

// Data returns the policy data document at path (for example "release",
// "approvals", "roles") in the revision in force, or nil when there is none.
// The value is shared: callers must not change it. It lets the gatekeeper
// learn from the policy, never from code, which teams hold release roles.
func (e *Engine) Data(path ...string) any {
	st := e.cur.Load()
	if st.good == nil {
		return nil
	}
	var v any = st.good.data
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
