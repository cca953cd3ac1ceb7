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
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Evaluator = (*Engine)(nil)

// Engine evaluates the release policy of one policy folder. It is a
// gatekeeper.Evaluator. The zero value is not usable; use New or Load.
type Engine struct {
	dir    string
	logger *slog.Logger
	clock  gatekeeper.Clock
	// evalDefault bounds an evaluation when the policy data does not
	// (release.evaluation.timeout); reloadTimeout bounds loading one
	// revision, smoke evaluation and tests included.
	evalDefault   time.Duration
	reloadTimeout time.Duration
	// evalCap, when set, bounds every evaluation whatever the policy
	// data says (WithEvalTimeoutCap).
	evalCap time.Duration

	// reloadMu serialises the compare-and-swap at the end of a reload,
	// never the expensive compile and tests before it, so that a newer
	// edit never waits behind an older one. Evaluate never takes it.
	reloadMu sync.Mutex
	// started numbers the reloads begun; committed is the number of the
	// latest reload whose outcome is in cur. A reload that finishes after
	// a later-started one committed is stale and changes nothing.
	started, committed uint64
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
	pre      *precomputed // the rules of the policy data alone, evaluated once
	files    []string
	loadedAt time.Time
	data     map[string]any // the data documents, read-only
	settings Settings       // data.release, decoded once
	served   *snapshot      // the files compiled, for the policy archive
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

// WithEvalTimeout sets how long one evaluation may take when the policy
// data does not say (release.evaluation.timeout); default
// DefaultEvalTimeout. It is GATEKEEPER_EVAL_TIMEOUT.
func WithEvalTimeout(d time.Duration) Option {
	return func(e *Engine) { e.evalDefault = d }
}

// WithReloadTimeout sets how long loading one revision may take, its smoke
// evaluation and its own tests included; default DefaultReloadTimeout.
// It is GATEKEEPER_POLICY_RELOAD_TIMEOUT.
func WithReloadTimeout(d time.Duration) Option {
	return func(e *Engine) { e.reloadTimeout = d }
}

// New returns an Engine for the policy folder dir with nothing loaded yet:
// it is not Ready and Evaluate fails until Reload succeeds.
func New(dir string, opts ...Option) *Engine {
	e := &Engine{
		dir:           dir,
		logger:        slog.New(slog.DiscardHandler),
		clock:         gatekeeper.SystemClock{},
		evalDefault:   DefaultEvalTimeout,
		reloadTimeout: DefaultReloadTimeout,
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
//
// Loading has a deadline (WithReloadTimeout): a revision whose compile,
// smoke evaluation and tests take longer is refused like a broken one.
// Reloads do not queue behind each other: the compile and tests run
// without a lock, and when two overlap, the one started later decides.
func (e *Engine) Reload(ctx context.Context) (changed bool, err error) {
	snap, err := readSnapshot(e.dir, true)
	if err != nil {
		e.reloadMu.Lock()
		defer e.reloadMu.Unlock()
		e.started++
		e.committed = e.started
		return e.markBroken(e.cur.Load(), nil, policyErrSummary(
			fmt.Errorf("policy folder unreadable: %w", err), "policy folder unreadable"))
	}
	return e.reload(ctx, snap)
}

// reload checks snap against what is known and, when it is new, compiles,
// smoke-evaluates and tests it within the reload deadline, then swaps it in
// unless a reload started later has already decided. The expensive part
// runs without the lock: a newer edit is never stuck behind an older one,
// and Watch cancels the older one through ctx.
//
// A reload interrupted through ctx changes nothing; one that passes its
// own deadline refuses the revision like a broken one, so that a policy
// that is slow to load or to test is reported, not retried for ever.
func (e *Engine) reload(ctx context.Context, snap *snapshot) (bool, error) {
	e.reloadMu.Lock()
	old := e.cur.Load()
	switch {
	case old.broken != nil && old.broken.checksum == snap.checksum:
		e.started++
		e.committed = e.started
		e.reloadMu.Unlock()
		return false, old.broken.err
	case old.good != nil && old.good.checksum == snap.checksum:
		e.started++
		e.committed = e.started
		defer e.reloadMu.Unlock()
		if old.broken == nil {
			return false, nil
		}
		// The folder went back to the content in force.
		e.cur.Store(&state{good: old.good})
		return true, nil
	}
	e.started++
	seq := e.started
	e.reloadMu.Unlock()

	p, err := e.load(ctx, old, snap)
	if err != nil && ctx.Err() != nil {
		// Interrupted, not broken: try again next time.
		return false, fmt.Errorf("reloading policy folder %s: %w", e.dir, ctx.Err())
	}

	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if seq < e.committed {
		// A reload started later has decided; this one is stale.
		return false, nil
	}
	e.committed = seq
	cur := e.cur.Load()
	if err != nil {
		return e.markBroken(cur, snap, err)
	}
	e.cur.Store(&state{good: p})
	return cur.good == nil || cur.good.revision != p.revision || cur.broken != nil, nil
}

// load prepares and tests snap within the reload deadline. The error wraps
// gatekeeper.ErrPolicy unless ctx itself ended.
func (e *Engine) load(ctx context.Context, old *state, snap *snapshot) (*prepared, error) {
	tctx, cancel := context.WithTimeout(ctx, e.reloadTimeout)
	defer cancel()
	timedOut := func() error {
		if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
			msg := fmt.Sprintf("policy revision %s took longer than %s to load and test", short(snap.revision), e.reloadTimeout)
			return policyErrSummary(fmt.Errorf("%s (GATEKEEPER_POLICY_RELOAD_TIMEOUT): refused", msg), msg)
		}
		return nil
	}
	var p *prepared
	var err error
	if old.good != nil && old.good.revision == snap.revision {
		// Only tests changed: the prepared query stands, the tests rerun.
		again := *old.good
		p = &again
	} else if p, err = e.prepare(tctx, snap.served()); err != nil {
		if terr := timedOut(); terr != nil {
			return nil, terr
		}
		return nil, policyErrSummary(fmt.Errorf("policy revision %s does not load: %w", short(snap.revision), err),
			located(err, e.summary(err)))
	}
	if p.tests, err = test(tctx, snap); err != nil {
		if terr := timedOut(); terr != nil {
			return nil, terr
		}
		var tf *testsFailed
		sum := located(err, err.Error())
		if errors.As(err, &tf) && tf.run.firstAt != "" {
			sum = tf.run.firstAt + ": " + err.Error()
		}
		return nil, policyErrSummary(err, sum)
	}
	p.checksum = snap.checksum
	return p, nil
}

// markBroken records that snap (nil: the folder could not be read) is not
// served because of err, which wraps gatekeeper.ErrPolicy and says why,
// keeping the last good revision in force. Call with reloadMu held.
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
	q, data, pre, err := snap.prepare(ctx)
	if err != nil {
		return nil, err
	}
	settings, err := decodeSettings(data, snap.revision)
	if err != nil {
		return nil, err
	}
	p := &prepared{revision: snap.revision, query: q, files: snap.names, loadedAt: e.clock.Now(), data: data, settings: settings, served: snap}
	// The rules of the data alone get the time of one evaluation: a rule
	// slower than that is left to the evaluations, whose deadline then
	// stops it as it always did.
	p.pre = pre(ctx, e.evalTimeout(p))
	// The smoke evaluation has the same deadline as every evaluation: a
	// policy that is slow on every input is refused here, and said so.
	d, err := e.eval(ctx, p, map[string]any{})
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
func (e *Engine) Evaluate(ctx context.Context, input any) (gatekeeper.Decision, error) {
	st := e.cur.Load()
	if st.good == nil {
		return gatekeeper.Decision{}, e.notLoaded(st)
	}
	d, err := e.eval(ctx, st.good, input)
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

// eval evaluates p within its deadline (release.evaluation.timeout, else
// WithEvalTimeout). OPA checks the context between evaluation steps, so
// the deadline interrupts a policy that burns CPU, and the worker goes on
// to other pull requests. Past the deadline the error wraps
// gatekeeper.ErrPolicy and names the timeout; when ctx itself ended it
// does not (the gatekeeper is stopping, the policy is not at fault).
func (e *Engine) eval(ctx context.Context, p *prepared, input any) (gatekeeper.Decision, error) {
	limit := e.evalTimeout(p)
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d, err := p.eval(tctx, input)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		msg := fmt.Sprintf("evaluation took longer than %s", limit)
		return gatekeeper.Decision{}, policyErrSummary(
			fmt.Errorf("policy revision %s: %s (release.evaluation.timeout or GATEKEEPER_EVAL_TIMEOUT): %w", short(p.revision), msg, context.DeadlineExceeded),
			msg)
	}
	return d, err
}

// eval evaluates the prepared query. The input goes in as an ast.Value
// built directly from the typed document (see inputValue): rego.EvalInput
// would round-trip it through JSON first (compare BenchmarkEvaluate with
// BenchmarkRawPreparedQuery).
func (p *prepared) eval(ctx context.Context, input any) (gatekeeper.Decision, error) {
	if err := ctx.Err(); err != nil {
		return gatekeeper.Decision{}, fmt.Errorf("evaluating %s: %w", Query, err)
	}
	v, err := inputValue(input)
	if err != nil {
		return gatekeeper.Decision{}, fmt.Errorf("converting policy input: %w: %w", gatekeeper.ErrInvalid, err)
	}
	rs, err := p.run(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			return gatekeeper.Decision{}, fmt.Errorf("evaluating %s: %w", Query, ctx.Err())
		}
		return gatekeeper.Decision{}, policyErrSummary(fmt.Errorf("evaluating policy revision %s: %w", short(p.revision), err),
			located(err, "revision "+short(p.revision)+" does not evaluate"))
	}
	d, err := decode(rs)
	if err != nil {
		return gatekeeper.Decision{}, policyErrSummary(fmt.Errorf("policy revision %s: %w", short(p.revision), err), err.Error())
	}
	d.PolicyRevision = short(p.revision)
	return d, nil
}

// run evaluates the prepared query on input as it is, the revision's
// precomputed rules (see precompute) in its rule cache.
func (p *prepared) run(ctx context.Context, input ast.Value) (rego.ResultSet, error) {
	return p.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalVirtualCache(p.pre.newCache()))
}

// notLoaded explains why no revision is in force.
func (e *Engine) notLoaded(st *state) error {
	if st.broken != nil {
		return fmt.Errorf("no policy in force: %w", st.broken.err)
	}
	return policyErr(fmt.Errorf("no policy in force: %s not loaded yet", e.dir))
}

// policyError marks an error as gatekeeper.ErrPolicy without adding
// "policy error" to its text, and carries a summary for the public
// commit status: where the policy is wrong (file:line) first, without the
// folder's path, so that it fits in 140 characters after "policy error: ".
type policyError struct {
	err     error
	summary string
}

func policyErr(err error) error { return &policyError{err: err} }

func policyErrSummary(err error, summary string) error {
	return &policyError{err: err, summary: summary}
}

func (e *policyError) Error() string   { return e.err.Error() }
func (e *policyError) Unwrap() []error { return []error{e.err, gatekeeper.ErrPolicy} }

// PolicySummary is the short public text of the error (see
// gatekeeper.PolicySummary). An error wrapped inside gives its own.
func (e *policyError) PolicySummary() string {
	if e.summary != "" {
		return e.summary
	}
	return gatekeeper.PolicySummary(e.err)
}

// summary is the public text of an error OPA did not locate: its own
// summary, else its first line without the folder's path.
func (e *Engine) summary(err error) string {
	if s := gatekeeper.PolicySummary(err); s != "" {
		if strings.Contains(err.Error(), "smoke evaluation") {
			return "smoke evaluation: " + s
		}
		return s
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return strings.ReplaceAll(line, e.dir, "the policy folder")
}

// located returns "file:line: message" of the first error in err
// that OPA located (a parse, compile or evaluation error), saying how many
// more there are, or fallback when none is located. Only the first line
// of the message is kept: type errors add indented detail lines.
func located(err error, fallback string) string {
	var all []*ast.Error
	var errs ast.Errors
	var le loader.Errors
	var one *ast.Error
	var te *topdown.Error
	switch {
	case errors.As(err, &errs):
		all = errs
	case errors.As(err, &le):
		for _, x := range le {
			if errors.As(x, &one) {
				all = append(all, one)
			}
		}
	case errors.As(err, &one):
		all = []*ast.Error{one}
	case errors.As(err, &te):
		all = []*ast.Error{{Code: te.Code, Message: te.Message, Location: te.Location}}
	}
	if len(all) == 0 || all[0].Location == nil {
		return fallback
	}
	first := all[0]
	msg, _, _ := strings.Cut(first.Message, "\n")
	// The code (rego_parse_error) is left out: the status already says
	// "policy error", and the message says what kind.
	s := fmt.Sprintf("%s:%d: %s", strings.TrimPrefix(first.Location.File, "/"), first.Location.Row, msg)
	if len(all) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(all)-1)
	}
	return s
}

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

// Health says which revision is in force and which, if any, is refused,
// for /readyz and the gatekeeper_policy_ok gauge. Its Error is the public
// one-line summary ("decision.rego:12: …"), not the full error.
func (e *Engine) Health() gatekeeper.PolicyHealth {
	st := e.cur.Load()
	var h gatekeeper.PolicyHealth
	if st.good != nil {
		h.Revision = short(st.good.revision)
	}
	if b := st.broken; b != nil {
		h.BrokenRevision, h.ErrorAt = short(b.revision), b.at
		if h.Error = gatekeeper.PolicySummary(b.err); h.Error == "" {
			h.Error = "refused"
		}
	} else if st.good == nil {
		h.Error = "not loaded yet"
	}
	return h
}

// Reloaded is one change of what the Engine serves, as Watch reports it.
type Reloaded struct {
	// From is the revision in force before, To the folder's revision now
	// (short hashes; "" when none, or the folder is unreadable).
	From, To string
	// Err is non-nil when To is refused (it does not load, fails its
	// tests, or passed the reload deadline); From stays in force.
	Err error
}

// Watch reloads the policy folder every interval until ctx is done, so
// that release managers' edits take effect without a restart, and calls
// changed (which may be nil) after each change of what the Engine serves,
// from Watch's own goroutine. It polls rather than watching file events:
// polling also sees ConfigMap symlink swaps and network file systems, and
// an unchanged folder costs one read and hash.
//
// A new revision is loaded in the background: while it compiles and runs
// its tests, Watch keeps polling, and when the folder changes again the
// older load is cancelled and the newer edit loaded at once, so that a fix
// never waits behind a slow or broken revision. Each change is logged
// once, naming the old and the new revision: a new revision at info, a
// refused one at error. Watch returns once its loads have stopped.
func (e *Engine) Watch(ctx context.Context, interval time.Duration, changed func(Reloaded)) {
	type result struct {
		from    string
		changed bool
		err     error
	}
	done := make(chan result)
	var wg sync.WaitGroup
	var cancelLoad context.CancelFunc = func() {}
	loading := "" // checksum of the folder content being loaded
	defer func() { cancelLoad(); wg.Wait() }()

	report := func(r result) {
		if !r.changed {
			return
		}
		rel := Reloaded{From: r.from, To: e.Revision(), Err: r.err}
		if r.err != nil {
			rel.To = e.Status().BrokenRevision
			e.logger.Error("policy revision refused (does not load, fails its tests or is too slow); the last good revision stays in force, statuses say error",
				"dir", e.dir, "from", rel.From, "to", rel.To, "in_force", e.Revision(), "err", r.err)
		} else {
			e.logger.Info("policy reloaded", "dir", e.dir, "from", rel.From, "to", rel.To, "tests", e.Status().Tests)
		}
		if changed != nil {
			changed(rel)
		}
	}

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-done:
			report(r)
			continue
		case <-t.C:
		}
		from := e.Revision()
		snap, err := readSnapshot(e.dir, true)
		if err != nil || e.known(snap) {
			// Nothing to compile: decided at once. A load in progress is
			// for content the folder no longer holds.
			cancelLoad()
			loading = ""
			ch, rerr := e.Reload(ctx)
			if ctx.Err() != nil {
				return
			}
			report(result{from: from, changed: ch, err: rerr})
			continue
		}
		if snap.checksum == loading {
			continue // still loading this content
		}
		cancelLoad()
		lctx, cancel := context.WithCancel(ctx)
		cancelLoad, loading = cancel, snap.checksum
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := e.reload(lctx, snap)
			select {
			case done <- result{from: from, changed: ch, err: err}:
			case <-ctx.Done():
			}
		}()
	}
}

// known reports whether snap's content was checked already (it is in
// force, or it is the broken content on record), so that reloading it
// costs no compilation.
func (e *Engine) known(snap *snapshot) bool {
	st := e.cur.Load()
	return (st.good != nil && st.good.checksum == snap.checksum) ||
		(st.broken != nil && st.broken.checksum == snap.checksum)
}

// Data returns the policy data document at path (for example "release",
// "approvals", "roles") in the revision in force, or nil when there is none.
// The value is shared: callers must not change it. Go code that needs a
// release setting reads Settings instead, decoded once per revision; Data
// is for what Settings does not cover.
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
