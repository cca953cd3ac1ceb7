package opa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	revision string // full hex sha256 of the served files
	checksum string // full hex sha256 of the folder's files, tests included
	tests    int    // how many of the folder's Rego tests it passed
	query    rego.PreparedEvalQuery
	files    []string
	loadedAt time.Time
	data     map[string]any // the data documents, read-only
}

// broken is a content of the folder that is not served: it does not load,
// or its tests fail.
type broken struct {
	revision string // full hex sha256; "" when the folder could not be read
	checksum string // as prepared.checksum; "" when the folder could not be read
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

// Load returns an Engine with the policy folder dir loaded and its own
// tests passed (see Reload). It always returns a usable Engine: when the
// folder does not load or its tests fail, the error says why (wrapping
// gatekeeper.ErrPolicy), the Engine is not Ready and its Evaluate fails,
// and a later Reload or Watch picks up the fix. The caller decides whether
// a broken policy at start-up is fatal.
func Load(ctx context.Context, dir string, opts ...Option) (*Engine, error) {
	e := New(dir, opts...)
	_, err := e.Reload(ctx)
	return e, err
}

// Reload re-reads the policy folder. When its content differs from what
// was last checked, the new revision is compiled, prepared and
// smoke-evaluated on an empty input, then the folder's own Rego tests
// (*_test.rego, run as Test runs them) are run against it, and it is
// swapped in only if all of that succeeds. A revision whose tests fail or
// error is treated exactly like one that does not compile: it is not
// served, the last good revision stays in force for the record, and err
// (and every Evaluate) names the revision and its first failing tests
// until the folder is fixed. A folder without test files is served
// untested, as `opa test` passes it.
//
// What is re-checked follows the checksum of every file, tests included;
// the revision that decisions name covers the served files only. So an
// edit to a *_test.rego alone re-runs the tests against the prepared
// revision in force (no recompilation): if they fail, that same revision
// is reported broken (Status().BrokenRevision equals Revision()) and not
// served until the tests pass again.
//
// changed reports whether what the Engine serves changed (a new revision
// in force, or the folder became broken or was fixed); a test-only edit
// whose tests pass changes nothing served. err is non-nil, wrapping
// gatekeeper.ErrPolicy, whenever the folder's current content is not
// served, also when that was already known. A reload interrupted by ctx
// changes nothing and is tried again on the next call.
func (e *Engine) Reload(ctx context.Context) (changed bool, err error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.cur.Load()

	snap, err := readSnapshot(e.dir, true)
	if err != nil {
		return e.markBroken(old, nil, policyErr(fmt.Errorf("policy folder unreadable: %w", err)))
	}
	switch {
	case old.broken != nil && old.broken.checksum == snap.checksum:
		return false, old.broken.err
	case old.good != nil && old.good.checksum == snap.checksum:
		if old.broken == nil {
			return false, nil
		}
		// The folder went back to the content in force.
		e.cur.Store(&state{good: old.good})
		return true, nil
	}

	var p *prepared
	if old.good != nil && old.good.revision == snap.revision {
		// Only tests changed: the prepared query stands, the tests rerun.
		again := *old.good
		p = &again
	} else if p, err = e.prepare(ctx, snap.served()); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("reloading policy folder %s: %w", e.dir, ctx.Err())
		}
		return e.markBroken(old, snap, policyErr(fmt.Errorf("policy revision %s does not load: %w", short(snap.revision), err)))
	}
	if p.tests, err = test(ctx, snap); err != nil {
		if ctx.Err() != nil {
			// Interrupted, not broken: try again next time.
			return false, fmt.Errorf("reloading policy folder %s: %w", e.dir, ctx.Err())
		}
		return e.markBroken(old, snap, policyErr(err))
	}
	p.checksum = snap.checksum
	e.cur.Store(&state{good: p})
	return old.good == nil || old.good.revision != p.revision || old.broken != nil, nil
}

// markBroken records that snap (nil: the folder could not be read) is not
// served because of err, which wraps gatekeeper.ErrPolicy and says why,
// keeping the last good revision in force.
func (e *Engine) markBroken(old *state, snap *snapshot, err error) (bool, error) {
	b := &broken{err: err, at: e.clock.Now()}
	if snap != nil {
		b.revision, b.checksum = snap.revision, snap.checksum
	}
	if ob := old.broken; ob != nil && ob.checksum == b.checksum && ob.err.Error() == err.Error() {
		return false, ob.err
	}
	e.cur.Store(&state{good: old.good, broken: b})
	return true, err
}

// test runs the Rego tests of snap, the folder as read with its test
// files, through the same runner as Test, and returns how many passed. A
// folder without test files passes with none. Tests that fail, error or
// are skipped give a *testsFailed; tests that do not parse or compile an
// error saying so.
func test(ctx context.Context, snap *snapshot) (int, error) {
	if !snap.hasTests() {
		return 0, nil
	}
	results, err := snap.runTests(ctx, testFilter{})
	if err != nil {
		return 0, fmt.Errorf("policy revision %s: its tests do not load: %w", short(snap.revision), err)
	}
	run := summarize(results)
	if run.failed > 0 {
		return 0, &testsFailed{revision: snap.revision, run: run}
	}
	return run.passed, nil
}

// testsFailedLen is the length up to which testsFailed lists test names:
// its text becomes a 140-character status description.
const testsFailedLen = 120

// testsFailed is a revision whose own tests do not all pass.
type testsFailed struct {
	revision string
	run      testRun
}

// Error names the revision, the count and the first failing tests that
// fit, e.g. "policy revision 3fa2c1e9abcd fails 2 of its 166 tests:
// test_coverage_below_minimum_fails, …"; `gatekeeper policy test` shows
// the rest, with the values involved.
func (e *testsFailed) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy revision %s fails %d of its %d tests: ", short(e.revision), e.run.failed, e.run.passed+e.run.failed)
	for i, name := range e.run.failing {
		if i > 0 && b.Len()+len(", ")+len(name) > testsFailedLen {
			b.WriteString(", …")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
	}
	return b.String()
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
// the folder holds a broken revision (one that does not load, or whose
// tests fail), it still evaluates the last good one, returns that decision
// for the record, and an error wrapping gatekeeper.ErrPolicy naming the
// broken revision and why it is not served.
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
	// Tests is how many of the folder's Rego tests the revision in force
	// passed; 0 when the folder has none.
	Tests int `json:"tests"`
	// BrokenRevision, LastError and ErrorAt describe the folder's current
	// content when it is not served (it does not load, or its tests fail);
	// they are empty when it is. After an edit to test files alone,
	// BrokenRevision equals Revision: the same policy, refused because
	// its tests now fail.
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
		s.Tests = g.tests
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
			e.logger.Error("policy not served (does not load or fails its tests); last good revision stays in force, statuses say error",
				"dir", e.dir, "revision", e.Revision(), "err", err)
		case changed:
			e.logger.Info("policy loaded", "dir", e.dir, "revision", e.Revision(), "tests", e.Status().Tests)
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
